//! The offline endpoints (docs/API-OFFLINE.md) as methods of [`Client`], on the same send path,
//! error mapping and retries as the online ones. Every call here may be repeated: reads; device
//! registration (idempotent); purse load and close (each carries an idempotency key); note
//! upload (idempotent by note hash). So all are `Retry::Idempotent`: timeouts and 502/503/504
//! are retried too. The offline code uses them with [`super::Patience::OFFLINE`].

use serde::de::IgnoredAny;

use super::{Client, ClientError, Retry};
use crate::wire::{
    CloseRequest, DeviceRequest, IssuerKeyJson, IssuerKeysAnswer, LoadPurseRequest, NoteRefusal, NoteResult,
    NotesAnswer, NotesUpload, PurseClosed, PurseInfo, PurseLoaded, PursesAnswer, ReceiptAnswer, RefusalAnswer,
    RevocationsJson,
};

impl Client {
    /// `GET /v1/issuer-keys`.
    pub async fn issuer_keys(&self) -> Result<Vec<IssuerKeyJson>, ClientError> {
        let answer: IssuerKeysAnswer =
            self.call(Retry::Idempotent, || self.http.get(self.server.url("/v1/issuer-keys"))).await?;
        Ok(answer.keys)
    }

    /// `GET /v1/receipts/{entry_id}?card=PREFIX`: the signed receipt of a transfer I sent or
    /// received, naming the shop card with nonce prefix `card` (the first card named for a
    /// payment stays bound to it; `None` asks for the receipt as it is).
    pub async fn receipt(
        &self,
        token: &str,
        entry_id: crate::wire::EntryId,
        card: Option<[u8; 4]>,
    ) -> Result<ReceiptAnswer, ClientError> {
        let path = match card {
            Some(prefix) => format!("/v1/receipts/{entry_id}?card={}", hex::encode(prefix)),
            None => format!("/v1/receipts/{entry_id}"),
        };
        self.call(Retry::Idempotent, || self.http.get(self.server.url(&path)).bearer_auth(token)).await
    }

    /// `GET /v1/revocations`.
    pub async fn revocations(&self) -> Result<RevocationsJson, ClientError> {
        self.call(Retry::Idempotent, || self.http.get(self.server.url("/v1/revocations"))).await
    }

    /// `POST /v1/devices` (idempotent). The answer must be JSON; what it says is not needed.
    pub async fn register_device(&self, token: &str, public_key_hex: &str) -> Result<(), ClientError> {
        let body = DeviceRequest { public_key: public_key_hex.to_string() };
        let _: IgnoredAny = self
            .call(Retry::Idempotent, || self.http.post(self.server.url("/v1/devices")).bearer_auth(token).json(&body))
            .await?;
        Ok(())
    }

    /// `POST /v1/purses` with an idempotency key: `amount` minor units into a new purse for the
    /// device `device_hex`.
    pub async fn load_purse(
        &self,
        token: &str,
        idempotency_key: &str,
        amount: u64,
        device_hex: &str,
    ) -> Result<PurseLoaded, ClientError> {
        let body = LoadPurseRequest { amount, device_public_key: device_hex.to_string() };
        self.call(Retry::Idempotent, || {
            self.http
                .post(self.server.url("/v1/purses"))
                .bearer_auth(token)
                .header("Idempotency-Key", idempotency_key)
                .json(&body)
        })
        .await
    }

    /// `GET /v1/purses`: the caller's purses and their states.
    pub async fn purses(&self, token: &str) -> Result<Vec<PurseInfo>, ClientError> {
        let answer: PursesAnswer =
            self.call(Retry::Idempotent, || self.http.get(self.server.url("/v1/purses")).bearer_auth(token)).await?;
        Ok(answer.purses)
    }

    /// `POST /v1/purses/{id}/close` with an idempotency key and the signed close statement.
    pub async fn close_purse(
        &self,
        token: &str,
        idempotency_key: &str,
        purse_id_hex: &str,
        close_text: &str,
    ) -> Result<PurseClosed, ClientError> {
        let body = CloseRequest { close: close_text.to_string() };
        let path = format!("/v1/purses/{purse_id_hex}/close");
        self.call(Retry::Idempotent, || {
            self.http
                .post(self.server.url(&path))
                .bearer_auth(token)
                .header("Idempotency-Key", idempotency_key)
                .json(&body)
        })
        .await
    }

    /// `POST /v1/notes` with at most [`crate::wire::MAX_NOTES_PER_UPLOAD`] notes
    /// (idempotent by note hash).
    pub async fn upload_notes(&self, token: &str, notes: &[&str]) -> Result<Vec<NoteResult>, ClientError> {
        let body = NotesUpload { notes: notes.iter().map(|note| note.to_string()).collect() };
        let answer: NotesAnswer = self
            .call(Retry::Idempotent, || self.http.post(self.server.url("/v1/notes")).bearer_auth(token).json(&body))
            .await?;
        Ok(answer.results)
    }

    /// `POST /v1/notes/refusals` (idempotent by note hash): my counter refused `note`; the server
    /// never pays it, or gives back what it paid me.
    pub async fn refuse_note(&self, token: &str, note: &str) -> Result<RefusalAnswer, ClientError> {
        let body = NoteRefusal { note: note.to_string() };
        self.call(Retry::Idempotent, || {
            self.http.post(self.server.url("/v1/notes/refusals")).bearer_auth(token).json(&body)
        })
        .await
    }
}
