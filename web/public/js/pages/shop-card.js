// Shop card (#/shop/card): the shop names itself (docs/PROTOCOL.md 4.5: isShopName) and this
// device signs a long-lived card with its device key (payee = my account, my handle, the server's
// currency, issued now), kept on the device as "my card" (offline/shop.js). Shown as a large QR
// code with the name under it, with "Print" (the print stylesheet prints only the card) and
// "Download PNG" (the code drawn on a canvas with the name). "Make a new card" replaces it: notes
// made for the old card are then refused at this counter (`wrong_card`), and given back to the
// payer (offline/shop.js keeps the old card as retired).

import { offlineDisabled } from "./offline-off.js";
import { h, field, title, errorLine } from "../ui.js";
import { qrFigure, qrCanvas } from "../qr.js";
import { myCard, makeCard } from "../offline/shop.js";

/** A file name for the card's PNG: the name's letters and digits, else "shop". */
const fileName = (name) => `offpay-card-${(name.normalize("NFKD").replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").toLowerCase() || "shop")}.png`;

export async function render(app) {
  if (!app.config.offline) return offlineDisabled("Shop card");
  const handle = app.session.handle;
  const section = h("section", {}, title("Shop card"));
  const mine = await myCard(handle);

  const name = field("Shop name", { name: "shop-name", autocomplete: "organization", maxlength: "48", required: true, value: mine?.name ?? "" });
  const err = errorLine(name.input);
  const button = h("button", { type: "submit" }, mine ? "Make a new card" : "Make card");
  const form = h("form", { "aria-label": mine ? "New card" : "Make a shop card", onsubmit: async (e) => {
    e.preventDefault();
    err.textContent = "";
    button.disabled = true;
    try {
      await makeCard(app, name.input.value);
      app.go("/shop/card");
    } catch (e2) {
      err.textContent = e2.reason ?? e2.message;
      button.disabled = false;
      name.input.focus();
    }
  } },
  h("p", { class: "hint" }, mine
    ? "A new card replaces this one: payments made for the old card are then refused here, and given back to the payer when this device is next online. "
      + "Print the new one and take the old one down."
    : "Customers scan your card, type the amount and pay: online it reaches your balance at once, offline you scan their payment code once."),
  name.label, err, button);

  if (!mine) {
    section.append(form);
    return section;
  }
  const cardBox = h("div", { class: "shop-card", "data-testid": "shop-card" },
    qrFigure(mine.text, `Shop card of ${mine.name}: scan to pay`, "M"),
    h("p", { class: "shop-name", "data-testid": "shop-name" }, mine.name),
    h("p", { class: "hint" }, mine.card.handle ? `Scan to pay ${mine.card.handle} with offpay` : "Scan to pay with offpay"));
  const download = h("a", { class: "button secondary", download: fileName(mine.name), href: "#", onclick: (e) => {
    // Drawn when tapped; the browser saves the PNG under the link's file name.
    const url = qrCanvas(mine.text, mine.name).toDataURL("image/png");
    e.currentTarget.href = url;
  } }, "Download PNG");
  const out = h("textarea", { readonly: true, rows: "5", id: "shop-card-text", "aria-label": "Shop card text" });
  out.value = mine.text;
  section.append(cardBox,
    h("div", { class: "actions no-print" },
      h("button", { type: "button", onclick: () => window.print() }, "Print"), download,
      h("a", { class: "button secondary", href: "#/shop" }, "Shop mode")),
    h("details", { class: "no-print" }, h("summary", {}, "Card text"), out),
    h("h2", { class: "no-print" }, "Make a new card"),
    h("div", { class: "no-print" }, form));
  return section;
}
