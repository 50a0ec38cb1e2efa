//! `pubkey@host:port` node URIs: what parses prints back to a URI that parses to the same
//! value, and has an address LDK can announce.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lightning::ln::msgs::SocketAddress;
use qtum_lightning::peer::NodeUri;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let uri = match text.parse::<NodeUri>() {
        Ok(uri) => uri,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert_ne!(uri.port, 0);
    assert!(!uri.host.is_empty());
    let printed = uri.to_string();
    assert_eq!(printed.parse::<NodeUri>().as_ref(), Ok(&uri), "{printed}");
    assert_eq!(printed, format!("{}@{}", uri.node_id, uri.host_port()));
    // Surrounding whitespace is ignored.
    assert_eq!(
        format!(" {printed}\n").parse::<NodeUri>().as_ref(),
        Ok(&uri)
    );
    let port = match uri.socket_address() {
        Some(SocketAddress::TcpIpV4 { port, .. })
        | Some(SocketAddress::TcpIpV6 { port, .. })
        | Some(SocketAddress::Hostname { port, .. }) => port,
        other => panic!("{printed} has socket address {other:?}"),
    };
    assert_eq!(port, uri.port);
});
