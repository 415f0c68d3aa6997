//! `moto_server` (PyPI `moto[server]`) as a local AWS Secrets Manager.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

impl Moto {
    /// Starts moto on a free port; `None` (with one line saying why) when `moto_server`
    /// is not installed outside CI.
    pub async fn start() -> Option<Moto> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) if !crate::peers_required() => {
                println!("moto_server not available ({e}); skipping (run scripts/test to install it)");
                return None;
            }
            Err(e) => panic!("moto_server is required under CI=true: {e}"),
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Some(Moto { endpoint, _child: child });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not listen on {endpoint} within 10 s");
    }

    /// The environment that points the AWS SDK at this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}
