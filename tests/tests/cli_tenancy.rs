//! `botfleet` with users, sessions, API keys and the audit log: the real binary against the real
//! manager (no bot is created, so no Telegram is needed). An admin (the bootstrap key) creates a user;
//! the user logs in (password on stdin), mints a key, uses it and revokes it, and logs out; the admin
//! reads the audit log. Every exit code is checked, and no password or session token is ever printed.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
};

use botfleet_tests::{
    cli_run::Run,
    harness::{self, Manager, ManagerOptions},
};
use serde::de::DeserializeOwned;
use shared::api::{
    audit::AuditList,
    instances::InstanceList,
    users::{ApiKeyList, MeView, Role, Scope, UserList, UserView},
};
use tokio::io::AsyncWriteExt;

/// Who a run is made as: the bootstrap key, a key of one's own, or nothing but what `login` stored.
#[derive(Clone, Copy)]
enum As<'a> {
    Admin,
    Key(&'a str),
    Stored,
}

/// Runs `botfleet` against one manager with a home of its own (its config and sessions files), keeping
/// every output to search it for secrets at the end.
struct Cli {
    url: String,
    admin_key: String,
    home: PathBuf,
    transcript: Arc<Mutex<String>>,
}

impl Cli {
    fn new(m: &Manager, home: &Path) -> Self {
        Self {
            url: m.base_url.clone(),
            admin_key: m.options.admin_key.clone(),
            home: home.to_path_buf(),
            transcript: Arc::default(),
        }
    }

    fn sessions_file(&self) -> PathBuf {
        self.home
            .join("config")
            .join("botfleet")
            .join("sessions.toml")
    }

    async fn run_with(&self, who: As<'_>, stdin: Option<&str>, args: &[&str]) -> Run {
        let mut c = tokio::process::Command::new(harness::binary("botfleet"));
        c.args(args)
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join("config"))
            .env_remove("BOTFLEET_CONFIG")
            .env_remove("BOTFLEET_USERNAME")
            .env("BOTFLEET_URL", &self.url)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match who {
            As::Admin => c.env("BOTFLEET_KEY", &self.admin_key),
            As::Key(key) => c.env("BOTFLEET_KEY", key),
            As::Stored => c.env_remove("BOTFLEET_KEY"),
        };
        let mut child = c.spawn().expect("run botfleet");
        if let Some(text) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(text.as_bytes()).await.unwrap();
            drop(pipe);
        }
        let out = child.wait_with_output().await.unwrap();
        Run::finished(out, args, &self.transcript)
    }

    /// Runs and asserts the exit code.
    async fn exits(&self, code: i32, who: As<'_>, stdin: Option<&str>, args: &[&str]) -> Run {
        let run = self.run_with(who, stdin, args).await;
        assert_eq!(run.code, code, "botfleet {args:?}: {run:?}");
        run
    }

    async fn ok(&self, who: As<'_>, args: &[&str]) -> Run {
        self.exits(0, who, None, args).await
    }

    /// Runs with `--output json`, asserts exit 0 and parses stdout as `T`.
    async fn json<T: DeserializeOwned>(&self, who: As<'_>, args: &[&str]) -> T {
        self.json_in(who, None, args).await
    }

    /// The same with `stdin` written to the command.
    async fn json_in<T: DeserializeOwned>(
        &self,
        who: As<'_>,
        stdin: Option<&str>,
        args: &[&str],
    ) -> T {
        let mut all = vec!["--output", "json"];
        all.extend_from_slice(args);
        let run = self.exits(0, who, stdin, &all).await;
        serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "botfleet {args:?}: stdout is not a {}: {e}\n{}",
                std::any::type_name::<T>(),
                run.stdout
            )
        })
    }

    /// The session token `login` stored (read from the file as a person would).
    fn stored_token(&self) -> String {
        let text = std::fs::read_to_string(self.sessions_file()).expect("a sessions file");
        text.lines()
            .find_map(|l| l.trim().strip_prefix("token = \""))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no token in {text}"))
            .to_string()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_log_in_mint_and_revoke_keys_and_admins_read_the_audit() {
    // No bot is created: the Telegram URL is never called.
    let m = Manager::spawn(ManagerOptions::new("http://127.0.0.1:9").await);
    let home = harness::bin_dir()
        .join("test-data")
        .join(harness::unique_name("cli-tenancy-"));
    std::fs::create_dir_all(&home).unwrap();
    let cli = Cli::new(&m, &home);
    let password = "correct horse battery staple";
    let typed = format!("{password}\n");

    // The admin (bootstrap key) creates a user, the password on stdin; the list shows them.
    let ann: UserView = cli
        .json_in(
            As::Admin,
            Some(&typed),
            &[
                "users",
                "create",
                "ann",
                "--password-stdin",
                "--max-instances",
                "3",
            ],
        )
        .await;
    assert_eq!((ann.username.as_str(), ann.role), ("ann", Role::User));
    assert_eq!(ann.max_instances, Some(3));
    let users: UserList = cli.json(As::Admin, &["users", "list"]).await;
    assert!(users.users.iter().any(|u| u.id == ann.id), "{users:?}");
    let table = cli.ok(As::Admin, &["users", "list"]).await.stdout;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(&header[..4], ["ID", "USERNAME", "ROLE", "STATE"]);
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()[..4]
                == [ann.id.as_str(), "ann", "user", "active"]),
        "{table}"
    );
    // Without a terminal, the password can only come from stdin (usage: exit 2).
    let run = cli
        .exits(2, As::Admin, None, &["users", "create", "bob"])
        .await;
    assert!(run.stderr.contains("--password-stdin"), "{run:?}");
    // No key and no session: usage, saying how to log in.
    let run = cli.exits(2, As::Stored, None, &["whoami"]).await;
    assert!(
        run.stderr.contains("no admin key") && run.stderr.contains("botfleet login"),
        "{run:?}"
    );

    // A wrong password: the manager's 401 (exit 1), and nothing stored.
    let run = cli
        .exits(
            1,
            As::Stored,
            Some("not the password\n"),
            &["login", "--username", "ann", "--password-stdin"],
        )
        .await;
    assert!(run.stderr.contains("HTTP 401"), "{run:?}");
    assert!(!cli.sessions_file().exists());

    // Log in: the session is stored (owner-only) and used by the next commands.
    let run = cli
        .exits(
            0,
            As::Stored,
            Some(&typed),
            &["login", "--username", "ann", "--password-stdin"],
        )
        .await;
    assert!(
        run.stdout.contains("Logged in") && run.stdout.contains("ann (user)"),
        "{run:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(cli.sessions_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "sessions.toml is readable by others");
    }
    let token = cli.stored_token();
    let me: MeView = cli.json(As::Stored, &["whoami"]).await;
    assert_eq!(me.role, Role::User);
    assert_eq!(me.credential, "session");
    assert_eq!(
        me.user.as_ref().map(|u| u.id.as_str()),
        Some(ann.id.as_str())
    );
    assert_eq!(
        (me.max_instances.limit, me.max_instances.used),
        (Some(3), 0)
    );
    let shown = cli.ok(As::Stored, &["whoami"]).await.stdout;
    assert!(
        shown
            .lines()
            .any(|l| l.split_whitespace().eq(["role:", "user"])),
        "{shown}"
    );
    assert!(shown.contains("stored by `botfleet login`"), "{shown}");
    // A user is no admin: 403 (exit 1).
    for admins_only in [&["users", "list"][..], &["audit"]] {
        let run = cli.exits(1, As::Stored, None, admins_only).await;
        assert!(run.stderr.contains("HTTP 403"), "{run:?}");
    }

    // A key of ann's own: printed once, with the warning; listed (never the key) with its scopes.
    let run = cli
        .ok(
            As::Stored,
            &[
                "keys", "create", "--name", "ci", "--scope", "read", "--scope", "send",
            ],
        )
        .await;
    let key = run
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("bfu_"))
        .unwrap_or_else(|| panic!("no key in {:?}", run.stdout))
        .to_string();
    assert!(run.stderr.contains("shown only now"), "{run:?}");
    let keys: ApiKeyList = cli.json(As::Stored, &["keys", "list"]).await;
    assert_eq!(keys.total, 1, "{keys:?}");
    let listed = &keys.keys[0];
    assert_eq!(listed.name, "ci");
    assert_eq!(listed.scopes, [Scope::Read, Scope::Send]);
    assert_eq!(listed.user_id.as_deref(), Some(ann.id.as_str()));
    assert!(
        !cli.ok(As::Stored, &["keys", "list"])
            .await
            .stdout
            .contains(&key)
    );
    // A key the user's role cannot hold: the manager's 422, with the field (exit 1).
    let run = cli
        .exits(
            1,
            As::Stored,
            None,
            &["keys", "create", "--name", "x", "--scope", "admin"],
        )
        .await;
    assert!(
        run.stderr.contains("field: scopes") && run.stderr.contains("HTTP 422"),
        "{run:?}"
    );

    // The key works on its own, with its scopes.
    let list: InstanceList = cli.json(As::Key(&key), &["instances", "list"]).await;
    assert_eq!(list.total, 0);
    let me: MeView = cli.json(As::Key(&key), &["whoami"]).await;
    assert_eq!(
        (me.credential.as_str(), me.key_id.as_deref()),
        ("api_key", Some(listed.id.as_str()))
    );
    assert_eq!(me.scopes, [Scope::Read, Scope::Send]);

    // Revoked: refused from then on (401, exit 1).
    let run = cli.ok(As::Stored, &["keys", "revoke", &listed.id]).await;
    assert!(run.stdout.contains("revoked"), "{run:?}");
    let run = cli
        .exits(1, As::Key(&key), None, &["instances", "list"])
        .await;
    assert!(run.stderr.contains("HTTP 401"), "{run:?}");
    let keys: ApiKeyList = cli.json(As::Stored, &["keys", "list"]).await;
    assert_eq!(keys.total, 0);

    // Log out: the file forgets the session, and the manager refuses its token.
    let run = cli.ok(As::Stored, &["logout"]).await;
    assert!(run.stdout.contains("Logged out"), "{run:?}");
    assert!(
        std::fs::read_to_string(cli.sessions_file()).map_or(true, |t| !t.contains(&token)),
        "the token is still stored"
    );
    let run = cli.exits(1, As::Key(&token), None, &["whoami"]).await;
    assert!(run.stderr.contains("HTTP 401"), "{run:?}");
    let run = cli.exits(2, As::Stored, None, &["whoami"]).await;
    assert!(run.stderr.contains("no admin key"), "{run:?}");
    let run = cli.exits(2, As::Stored, None, &["logout"]).await;
    assert!(run.stderr.contains("not logged in"), "{run:?}");

    // A session the manager ended (a new role ends them) is refused, with a hint to log in again.
    cli.exits(
        0,
        As::Stored,
        Some(&typed),
        &["login", "-u", "ann", "--password-stdin"],
    )
    .await;
    let token = cli.stored_token();
    let updated: UserView = cli
        .json(As::Admin, &["users", "update", "ann", "--role", "operator"])
        .await;
    assert_eq!(updated.role, Role::Operator);
    assert_eq!(updated.max_instances, Some(3), "a quota left out was reset");
    let run = cli.exits(1, As::Stored, None, &["whoami"]).await;
    assert!(
        run.stderr.contains("HTTP 401") && run.stderr.contains("botfleet login"),
        "{run:?}"
    );

    // The admin reads the audit log: the user's creation by the bootstrap key, and ann's own steps
    // (by username).
    let audit: AuditList = cli.json(As::Admin, &["audit", "--limit", "1000"]).await;
    assert!(
        audit.entries.iter().any(|e| e.method == "POST"
            && e.route == "/api/v1/users"
            && e.status == 201
            && e.actor == "bootstrap"),
        "{audit:?}"
    );
    let of_ann: AuditList = cli.json(As::Admin, &["audit", "--user", "ann"]).await;
    assert!(!of_ann.entries.is_empty());
    assert!(
        of_ann
            .entries
            .iter()
            .all(|e| e.user_id.as_deref() == Some(ann.id.as_str())),
        "{of_ann:?}"
    );
    for (method, route) in [
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/api-keys"),
        ("DELETE", "/api/v1/api-keys/{id}"),
        ("POST", "/api/v1/auth/logout"),
    ] {
        assert!(
            of_ann
                .entries
                .iter()
                .any(|e| e.method == method && e.route == route),
            "no {method} {route} in {of_ann:?}"
        );
    }
    let table = cli.ok(As::Admin, &["audit", "--limit", "5"]).await;
    assert!(table.stdout.starts_with("AT"), "{table:?}");
    // A limit out of range: usage (exit 2).
    cli.exits(2, As::Admin, None, &["audit", "--limit", "0"])
        .await;

    // A user who owns no bots can be deleted.
    let run = cli.ok(As::Admin, &["users", "delete", "ann"]).await;
    assert!(run.stdout.contains("deleted"), "{run:?}");
    let users: UserList = cli.json(As::Admin, &["users", "list"]).await;
    assert!(users.users.iter().all(|u| u.id != ann.id));

    // Unreachable manager: exit 3.
    let run = cli
        .exits(
            3,
            As::Admin,
            None,
            &["--url", "http://127.0.0.1:1", "whoami"],
        )
        .await;
    assert!(run.stderr.contains("cannot reach"), "{run:?}");

    let transcript = cli.transcript.lock().unwrap().clone();
    assert!(
        !transcript.contains(password),
        "a password appeared in the CLI's output"
    );
    assert!(
        !transcript.contains(&token),
        "a session token appeared in the CLI's output"
    );
    assert!(
        !m.log().contains(password),
        "a password appeared in the manager's log"
    );
    let _ = std::fs::remove_dir_all(&home);
}
