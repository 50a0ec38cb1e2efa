//! Qtum addresses from text: what parses prints back to a string that parses to the same
//! address, pays to a script that maps back to it, and is accepted exactly on `networks()`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qtum_primitives::address::QtumAddress;
use qtum_primitives::network::Network;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for network in Network::ALL {
        match QtumAddress::from_str_for(text, network) {
            Ok(address) => {
                assert_eq!(address.network(), network);
                assert!(address.is_valid_for(network));
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let Ok(address) = QtumAddress::parse_any(text) else {
        return;
    };
    let printed = address.to_string();
    // Bech32 accepts all-upper-case; the printed form is lower case.
    assert!(
        printed == text || printed.eq_ignore_ascii_case(text),
        "{text} printed as {printed}"
    );
    assert_eq!(QtumAddress::parse_any(&printed).as_ref(), Ok(&address));
    let script = address.script_pubkey();
    assert!(address.matches_script_pubkey(&script));
    assert_eq!(
        QtumAddress::from_script(&script, address.network()).as_ref(),
        Ok(&address)
    );
    for network in Network::ALL {
        assert_eq!(
            QtumAddress::from_str_for(text, network).is_ok(),
            address.networks().contains(&network)
        );
        if let Ok(moved) = address.clone().require_network(network) {
            assert_eq!(moved.script_pubkey(), script);
            assert_eq!(
                QtumAddress::from_str_for(&moved.to_string(), network),
                Ok(moved)
            );
        }
    }
    let _ = address.address_type().to_string();
    let _ = address.witness_program();
});
