//! Real caches in front of an hlsd under test: Varnish and nginx started on loopback from
//! the configurations in `deploy/`, with only their addresses and paths rewritten.

use super::tool;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The `deploy/` directory of this checkout.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// A port nothing listens on right now (bound and released: the caches bind by number).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Replaces `from` by `to` in `text`, which must contain it (a renamed line in `deploy/`
/// must fail the test rather than leave the production address in place).
fn rewrite(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "deploy config lost {from:?}");
    text.replace(from, to)
}

/// Waits until something accepts connections on `addr`.
async fn wait_listening(addr: SocketAddr, child: &mut tokio::process::Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} not listening on {addr}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running cache; killed when dropped.
pub struct Cache {
    pub addr: SocketAddr,
    pub name: &'static str,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Cache {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Varnish with `deploy/varnish/hlsd.vcl`, its backend pointed at `origin`.
    pub async fn varnish(origin: SocketAddr) -> Cache {
        let dir = tempfile::tempdir().expect("temp dir");
        let vcl = std::fs::read_to_string(deploy_dir().join("varnish/hlsd.vcl")).expect("vcl");
        let vcl = rewrite(
            &vcl,
            ".port = \"8080\";",
            &format!(".port = \"{}\";", origin.port()),
        );
        let vcl_path = dir.path().join("hlsd.vcl");
        std::fs::write(&vcl_path, vcl).expect("write vcl");
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let mut child = tool("varnishd")
            .arg("-F")
            .args(["-j", "none"])
            .arg("-n")
            .arg(dir.path().join("varnish"))
            .args(["-a", &addr.to_string()])
            .arg("-f")
            .arg(&vcl_path)
            .args(["-s", "malloc,64m"])
            .args(["-p", "thread_pool_min=50", "-p", "thread_pools=1"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn varnishd (apt-get install varnish)");
        wait_listening(addr, &mut child, "varnishd").await;
        Cache {
            addr,
            name: "varnish",
            child,
            _dir: dir,
        }
    }

    /// nginx with `deploy/nginx/hlsd.conf` (njs loaded for signed playback), its upstream
    /// pointed at `origin`, its playback secret `secret`.
    pub async fn nginx(origin: SocketAddr, secret: &str) -> Cache {
        let conf = std::fs::read_to_string(deploy_dir().join("nginx/hlsd.conf")).expect("conf");
        let conf = rewrite(
            &conf,
            "server 127.0.0.1:8080;",
            &format!("server {origin};"),
        );
        let conf = rewrite(
            &conf,
            "js_path /etc/nginx/hlsd/;",
            &format!("js_path {}/;", deploy_dir().join("nginx").display()),
        );
        let conf = rewrite(
            &conf,
            "js_var $hlsd_playback_secret \"\";",
            &format!("js_var $hlsd_playback_secret \"{secret}\";"),
        );
        Cache::nginx_with(conf, "listen 127.0.0.1:8081;").await
    }

    /// nginx with `deploy/nginx/shard.conf`, its three origins replaced by `origins`.
    pub async fn nginx_shards(origins: &[SocketAddr]) -> Cache {
        assert_eq!(origins.len(), 3, "shard.conf lists three origins");
        let mut conf =
            std::fs::read_to_string(deploy_dir().join("nginx/shard.conf")).expect("conf");
        for (i, origin) in origins.iter().enumerate() {
            let listed = format!("server 10.0.0.{}:8080 ", i + 1);
            conf = rewrite(&conf, &listed, &format!("server {origin} "));
        }
        Cache::nginx_with(conf, "listen 8080;").await
    }

    /// nginx running the `http`-level configuration `conf` (its `listen` line is
    /// `listen`, moved to a free port; `/var/cache/nginx/hlsd` moved to a temporary
    /// directory when present) inside a main configuration of its own.
    async fn nginx_with(conf: String, listen: &str) -> Cache {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        // Workers may run as nobody when the test runs as root.
        for sub in ["cache", "body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir(root.join(sub)).expect("mkdir");
        }
        set_mode(root, 0o755);
        for sub in ["cache", "body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            set_mode(&root.join(sub), 0o777);
        }
        let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let conf = rewrite(&conf, listen, &format!("listen {addr};"));
        let conf = conf.replace(
            "/var/cache/nginx/hlsd",
            &root.join("cache").display().to_string(),
        );
        std::fs::write(root.join("hlsd.conf"), conf).expect("write conf");
        let r = root.display();
        let main = format!(
            "load_module /usr/lib/nginx/modules/ngx_http_js_module.so;\n\
             daemon off;\nmaster_process off;\nworker_processes 1;\npid {r}/nginx.pid;\n\
             error_log {r}/error.log warn;\n\
             events {{ worker_connections 2048; }}\n\
             http {{\n  access_log off;\n\
               client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n\
               fastcgi_temp_path {r}/fastcgi;\n  uwsgi_temp_path {r}/uwsgi;\n\
               scgi_temp_path {r}/scgi;\n  include {r}/hlsd.conf;\n}}\n"
        );
        std::fs::write(root.join("nginx.conf"), main).expect("write nginx.conf");
        let mut child = tool("nginx")
            .arg("-p")
            .arg(root)
            .arg("-c")
            .arg(root.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nginx (apt-get install nginx libnginx-mod-http-js)");
        wait_listening(addr, &mut child, "nginx").await;
        Cache {
            addr,
            name: "nginx",
            child,
            _dir: dir,
        }
    }

    /// nginx's error log so far (for failure messages).
    pub fn nginx_errors(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        // SIGTERM first, so varnishd's manager takes its child down with it.
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = self.child.start_kill();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
