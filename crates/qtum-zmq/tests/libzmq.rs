//! Our ZMTP against libzmq itself (through pyzmq, which bundles it): our subscriber reads a
//! libzmq PUB socket as qtumd's feed is read, and a libzmq SUB socket reads our publisher.
//! pyzmq comes from PyPI (`.ci/run` installs it); without it these tests fail, they do not skip.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qtum_zmq::{Publisher, Subscriber};

fn python(script: &str, args: &[&str]) -> std::process::Child {
    let check = Command::new("python3")
        .args(["-c", "import zmq"])
        .status()
        .expect("python3 runs");
    assert!(
        check.success(),
        "pyzmq is needed for the libzmq interop tests: python3 -m pip install pyzmq"
    );
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A libzmq PUB that sends `rawblock` and `rawtx` messages, qtumd's shape, until killed.
const LIBZMQ_PUB: &str = r#"
import sys, time, zmq, struct
ctx = zmq.Context()
s = ctx.socket(zmq.PUB)
s.bind("tcp://127.0.0.1:" + sys.argv[1])
seq = 0
deadline = time.time() + 60
while time.time() < deadline:
    s.send_multipart([b"rawblock", b"\x01" * 300, struct.pack("<I", seq)])
    s.send_multipart([b"rawtx", b"\x02" * 7, struct.pack("<I", seq)])
    seq += 1
    time.sleep(0.02)
"#;

#[test]
fn our_subscriber_reads_a_libzmq_publisher() {
    let port = free_port();
    let mut child = python(LIBZMQ_PUB, &[&port.to_string()]);
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sub = loop {
        match Subscriber::connect(&endpoint, &["rawtx"]) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "cannot connect: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    let mut seen = Vec::new();
    while seen.len() < 5 {
        assert!(Instant::now() < deadline, "too few messages: {seen:?}");
        if let Some(m) = sub.next(Duration::from_secs(1)).expect("reads") {
            seen.push(m);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    // Only the subscribed topic, in qtumd's three parts, sequence numbers increasing.
    assert!(seen.iter().all(|m| m.topic == b"rawtx"), "{seen:?}");
    assert!(seen
        .iter()
        .all(|m| m.parts.len() == 2 && m.parts[0] == vec![2u8; 7]));
    let seqs: Vec<u32> = seen.iter().filter_map(|m| m.sequence()).collect();
    assert_eq!(seqs.len(), 5);
    assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{seqs:?}");
}

/// A libzmq SUB of `rawtx` that prints the first message it gets (parts in hex) and exits.
const LIBZMQ_SUB: &str = r#"
import sys, zmq
ctx = zmq.Context()
s = ctx.socket(zmq.SUB)
s.setsockopt(zmq.SUBSCRIBE, b"rawtx")
s.setsockopt(zmq.RCVTIMEO, 30000)
s.connect(sys.argv[1])
parts = s.recv_multipart()
print(" ".join(p.hex() for p in parts))
"#;

#[test]
fn a_libzmq_subscriber_reads_our_publisher() {
    let publisher = Publisher::bind(([127, 0, 0, 1], 0).into()).expect("binds");
    let mut child = python(LIBZMQ_SUB, &[&publisher.endpoint()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Publish until the subscriber has its message (a PUB sends nothing before a subscription
    // arrives); the block topic goes first and must not reach it.
    let mut out = String::new();
    loop {
        assert!(Instant::now() < deadline, "libzmq SUB got nothing");
        publisher.publish("rawblock", &[9u8; 400]);
        publisher.publish("rawtx", b"tx-body");
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let parts: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert_eq!(parts[0], "7261777478"); // "rawtx"
    assert_eq!(parts[1], "74782d626f6479"); // "tx-body"
    assert_eq!(parts[2].len(), 8, "a 4-byte sequence: {out}");
}

#[test]
fn a_publisher_that_is_not_zmq_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        use std::io::Write;
        let (mut s, _) = listener.accept().expect("accepts");
        let _ = s.write_all(&[b'H'; 64]);
        std::thread::sleep(Duration::from_millis(200));
    });
    let e = Subscriber::connect(&format!("tcp://{addr}"), &["rawtx"]).expect_err("refused");
    assert!(e.to_string().contains("not a ZMTP peer"), "{e}");
    t.join().expect("joins");
}
