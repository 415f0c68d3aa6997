//! `moto_server` (PyPI `moto[server]`) as a local AWS Secrets Manager that checks
//! Signature Version 4 and IAM policies the way AWS does.
//!
//! moto authenticates every request after its first `INITIAL_NO_AUTH_ACTION_COUNT`
//! actions. [`Moto::provision`] spends exactly those on setup (with boto3, the AWS SDK
//! for Python that moto brings): an IAM user allowed to read one secret, its access key,
//! and the secret. From then on a request whose signature is wrong, or whose principal
//! may not read the secret, is refused, so the connector's own signer is what is tested.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Setup actions moto serves before it starts authenticating.
const SETUP_ACTIONS: u32 = 4;

pub struct Moto {
    pub endpoint: String,
    _child: Child,
}

/// What [`Moto::provision`] made.
pub struct Provisioned {
    pub secret_arn: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Moto {
    /// Starts moto on a free port; panics when `moto_server` is not installed.
    pub async fn start() -> Moto {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_ACTIONS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => panic!("moto_server is required (scripts/test installs it into .venv): {e}"),
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        // moto imports most of boto on start: seconds on an idle machine, more than ten
        // when the test run's own builds share the cores.
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Moto { endpoint, _child: child };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("moto_server did not listen on {endpoint} within 30 s");
    }

    /// Creates the secret `name` holding `value`, and an IAM user whose only permission
    /// is `secretsmanager:GetSecretValue` (moto matches no resource ARNs for it, so `*`). Call once, first: it spends moto's
    /// unauthenticated actions.
    pub async fn provision(&self, name: &str, value: &str) -> Provisioned {
        const SETUP: &str = r#"
import json, sys, boto3
endpoint, name, value = sys.argv[1:4]
kw = dict(endpoint_url=endpoint, region_name="us-east-1",
          aws_access_key_id="setup", aws_secret_access_key="setup")
iam = boto3.client("iam", **kw)
iam.create_user(UserName="connector")
key = iam.create_access_key(UserName="connector")["AccessKey"]
arn = boto3.client("secretsmanager", **kw).create_secret(Name=name, SecretString=value)["ARN"]
iam.put_user_policy(UserName="connector", PolicyName="read-connector-secret", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
}))
print(json.dumps({"arn": arn, "id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
"#;
        let output = Command::new("python3")
            .args(["-c", SETUP, &self.endpoint, name, value])
            .output()
            .await
            .expect("python3 runs (moto's venv first on PATH)");
        assert!(output.status.success(), "moto setup failed: {}", String::from_utf8_lossy(&output.stderr));
        let made: serde_json::Value = serde_json::from_slice(&output.stdout).expect("setup prints JSON");
        Provisioned {
            secret_arn: made["arn"].as_str().expect("arn").to_owned(),
            access_key_id: made["id"].as_str().expect("key id").to_owned(),
            secret_access_key: made["secret"].as_str().expect("secret key").to_owned(),
        }
    }

    /// The environment a Lambda function would have: the standard AWS variables, with
    /// the endpoint pointed at this moto.
    pub fn env(&self, access_key_id: &str, secret_access_key: &str) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", access_key_id),
            ("AWS_SECRET_ACCESS_KEY", secret_access_key),
            ("AWS_REGION", "us-east-1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }
}
