//! hlsd as a child process for the whole-server benchmarks, and what `/proc` says about a
//! process. Shared by `feeds` and `viewers` (included with `#[path]`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux).
pub const TICKS: f64 = 100.0;

/// A release hlsd (or `$HLSD_BIN`) with the shipped configuration (2 s segments, window 6,
/// 0.25 s parts), demo off, on a free loopback port; killed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts hlsd with the shipped configuration passed through `edit`, and waits until
    /// it answers.
    pub fn start(edit: impl Fn(String) -> String) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let config = dir.path().join("hlsd.toml");
        let shipped =
            include_str!("../../config.toml").replace("enabled = true", "enabled = false");
        std::fs::write(&config, edit(shipped)).expect("config");
        let log = std::fs::File::create(dir.path().join("hlsd.log")).expect("log");
        // HLSD_BIN runs another build (an older commit's, for a before/after).
        let bin = std::env::var_os("HLSD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_hlsd").into());
        let child = Command::new(bin)
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(addr.to_string())
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start hlsd");
        let server = Server {
            child,
            addr,
            _dir: dir,
        };
        let until = Instant::now() + Duration::from_secs(10);
        while get(addr, "/healthz").is_err() {
            assert!(Instant::now() < until, "hlsd did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blocking HTTP/1.1 GET with `Connection: close`: (status, body).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

/// utime + stime of a process (`"self"` or a pid), in clock ticks.
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name in parentheses: utime and stime are the 12th and 13th.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Resident memory of a process, in KiB.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
