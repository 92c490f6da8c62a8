//! How many connections each client network holds open (`Config::max_connections_per_address`;
//! a network as `extract::client_network` counts it: an IPv4 address, an IPv6 /64). The global
//! cap (`Config::max_connections`) keeps the process within its file descriptors; this one keeps
//! a single network from taking every place, so that one host opening thousands of idle
//! connections cannot lock everyone else out. A connection past its network's share is closed
//! at once; its place is given back when it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::extract::client_network;

/// The open connections per client network.
#[derive(Debug)]
pub struct AddressPlaces {
    held: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One connection's place in its network's share, given back when dropped.
#[derive(Debug)]
pub struct AddressPlace {
    places: Arc<AddressPlaces>,
    network: IpAddr,
}

impl AddressPlaces {
    /// At most `max` connections per network (0 is read as 1).
    pub fn new(max: usize) -> Arc<AddressPlaces> {
        Arc::new(AddressPlaces { held: Mutex::new(HashMap::new()), max: max.max(1) })
    }

    /// A place for a connection from `ip`, or `None` when its network holds its share.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressPlace> {
        let network = client_network(ip);
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(network).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(AddressPlace { places: Arc::clone(self), network })
    }
}

impl Drop for AddressPlace {
    fn drop(&mut self) {
        let mut held = self.places.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.network) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                held.remove(&self.network);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_holds_its_share_and_gets_places_back() {
        let places = AddressPlaces::new(2);
        let ip = |text: &str| text.parse::<IpAddr>().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let first = places.take(ip("2001:db8::1"));
        let second = places.take(ip("2001:db8::2"));
        assert!(first.is_some() && second.is_some());
        assert!(places.take(ip("2001:db8::3")).is_none(), "a third from the same /64");
        assert!(places.take(ip("203.0.113.7")).is_some(), "another network is not affected");
        drop(first);
        let held = |text: &str| {
            places.held.lock().unwrap_or_else(PoisonError::into_inner).get(&client_network(ip(text))).copied()
        };
        assert_eq!(held("2001:db8::9"), Some(1));
        let third = places.take(ip("2001:db8::3"));
        assert!(third.is_some(), "a place given back is taken again");
        drop((second, third));
        assert!(places.held.lock().unwrap_or_else(PoisonError::into_inner).is_empty(), "every place was given back");
    }
}
