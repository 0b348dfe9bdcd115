//! Passwords and tokens on real databases: a wrong password is refused, counted and
//! audited (never its content); five in a row lock the account for fifteen minutes,
//! login and signing alike, and the lock ends; tokens expire, and are revoked by
//! logout, by an admin, and all at once when the password changes.

mod common;

use std::time::Duration;

use careflow_store::users::{self, NewUser, Provisioner, DEFAULT_TOKEN_TTL, LOCKOUT};
use careflow_store::{audit, signatures, Db, Error};
use careflow_types::{Role, SignatureMeaning};

const ADMIN_PASSWORD: &str = "admin password 1";
const BEN_PASSWORD: &str = "ben's bed board pass";

async fn site(db: &Db) {
    let admin = NewUser {
        name: "dr.admin",
        role: Role::Admin,
        printed_name: Some("Dr A. Admin"),
        password: ADMIN_PASSWORD,
    };
    users::provision(db, admin, Provisioner::LocalOperator, None)
        .await
        .unwrap();
    let ben = NewUser {
        name: "beds.ben",
        role: Role::BedManager,
        printed_name: Some("Ben Okafor"),
        password: BEN_PASSWORD,
    };
    users::provision(db, ben, Provisioner::Admin("dr.admin"), Some("bed team"))
        .await
        .unwrap();
}

async fn actions(db: &Db, action: &str) -> Vec<careflow_types::AuditEntry> {
    audit::entries(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == action)
        .collect()
}

fn sign_request(password: &str) -> signatures::SignRequest<'_> {
    signatures::SignRequest {
        signer: "beds.ben",
        password,
        meaning: SignatureMeaning::Approved,
        subject: "task/t-lock".into(),
        signed_sha256: "ab".repeat(32),
        workflow_id: None,
    }
}

async fn wrong_passwords_lock_the_account_for_a_while(db: Db) {
    site(&db).await;
    let session = users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    assert_eq!(actions(&db, "user.logged_in").await.len(), 1);

    // Unknown users and wrong passwords: the same refusal, nothing issued.
    match users::login(&db, "nobody", BEN_PASSWORD, DEFAULT_TOKEN_TTL).await {
        Err(Error::BadCredentials(m)) => assert_eq!(m, "wrong user name or password"),
        other => panic!("{other:?}"),
    }
    for attempt in 1..=4 {
        match users::login(&db, "beds.ben", "guess number one", DEFAULT_TOKEN_TTL).await {
            Err(Error::BadCredentials(m)) => {
                assert!(m.contains(&format!("{} attempts left", 5 - attempt)), "{m}")
            }
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    let failed = actions(&db, "user.password_failed").await;
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[3].actor, "beds.ben");
    assert_eq!(
        failed[3].reason.as_deref(),
        Some("failed attempt 4 of 5 in a row")
    );
    // The fifth wrong one in a row (here while signing) locks the account.
    match signatures::sign(&db, &sign_request("guess number five")).await {
        Err(Error::Locked(m)) => assert!(m.contains("locked until"), "{m}"),
        other => panic!("{other:?}"),
    }
    let locked = actions(&db, "user.locked").await;
    assert_eq!(locked.len(), 1);
    let until: String = sqlx::query("SELECT locked_until FROM users WHERE user_name = 'beds.ben'")
        .fetch_one(db.pool())
        .await
        .map(|r| sqlx::Row::get(&r, 0))
        .unwrap();
    let until_t = chrono::DateTime::parse_from_rfc3339(&until).unwrap();
    let from_now = until_t.signed_duration_since(chrono::Utc::now());
    assert!(
        from_now > chrono::Duration::minutes(14) && from_now <= chrono::Duration::minutes(15),
        "locked for {from_now:?}"
    );
    assert_eq!(LOCKOUT, Duration::from_secs(900));

    // Locked: even the right password is refused, for login and for signing, and the
    // attempts are recorded; a token issued before the lock still works.
    let refused_before = actions(&db, "user.password_refused_locked").await.len();
    assert!(matches!(
        users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL).await,
        Err(Error::Locked(_))
    ));
    assert!(matches!(
        signatures::sign(&db, &sign_request(BEN_PASSWORD)).await,
        Err(Error::Locked(_))
    ));
    assert_eq!(
        actions(&db, "user.password_refused_locked").await.len(),
        refused_before + 2
    );
    assert_eq!(
        sqlx::query("SELECT COUNT(*) FROM signatures")
            .fetch_one(db.pool())
            .await
            .map(|r| sqlx::Row::get::<i64, _>(&r, 0))
            .unwrap(),
        0,
        "nothing signed while locked"
    );
    assert!(users::authenticate(&db, &session.token)
        .await
        .unwrap()
        .is_some());

    // Fifteen minutes later (the lock's end moved into the past) the right password
    // works again and starts a fresh count.
    let past = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE users SET locked_until = $1 WHERE user_name = 'beds.ben'")
        .bind(&past)
        .execute(db.pool())
        .await
        .unwrap();
    let signature = signatures::sign(&db, &sign_request(BEN_PASSWORD))
        .await
        .unwrap();
    assert_eq!(signature.printed_name, "Ben Okafor");
    assert_eq!(signature.signer_role, "bed_manager");
    assert!(
        signature.signed_at.ends_with('Z'),
        "UTC: {}",
        signature.signed_at
    );
    let entry = actions(&db, "signature.signed").await.pop().unwrap();
    assert_eq!(entry.actor, "beds.ben");
    assert_eq!(
        entry.input_digest.as_deref(),
        Some("ab".repeat(32).as_str())
    );
    match users::login(&db, "beds.ben", "one more guess", DEFAULT_TOKEN_TTL).await {
        Err(Error::BadCredentials(m)) => assert!(m.contains("4 attempts left"), "{m}"),
        other => panic!("{other:?}"),
    }

    // No password ever reaches the audit trail.
    for e in audit::entries(&db).await.unwrap() {
        let text = serde_json::to_string(&e).unwrap();
        for secret in [
            BEN_PASSWORD,
            "guess number",
            "one more guess",
            ADMIN_PASSWORD,
        ] {
            assert!(!text.contains(secret), "{text}");
        }
    }
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
}

async fn tokens_expire_and_are_revoked(db: Db) {
    site(&db).await;
    // A token outlives nothing of its time to live.
    let short = users::login(&db, "beds.ben", BEN_PASSWORD, Duration::from_secs(1))
        .await
        .unwrap();
    assert!(users::authenticate(&db, &short.token)
        .await
        .unwrap()
        .is_some());
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(users::authenticate(&db, &short.token)
        .await
        .unwrap()
        .is_none());

    // Logout revokes the token it is called with, and only that one.
    let a = users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    let b = users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    assert_eq!(
        users::logout(&db, &a.token).await.unwrap().unwrap().name,
        "beds.ben"
    );
    assert!(users::authenticate(&db, &a.token).await.unwrap().is_none());
    assert!(users::authenticate(&db, &b.token).await.unwrap().is_some());
    assert!(users::logout(&db, &a.token).await.unwrap().is_none());
    assert_eq!(actions(&db, "user.logged_out").await.len(), 1);

    // Only an admin revokes another user's tokens; it is audited with the why.
    assert!(matches!(
        users::revoke_tokens(&db, "dr.admin", "beds.ben", None).await,
        Err(Error::Forbidden(_))
    ));
    assert_eq!(
        users::revoke_tokens(&db, "beds.ben", "dr.admin", Some("laptop stolen"))
            .await
            .unwrap(),
        1
    );
    assert!(users::authenticate(&db, &b.token).await.unwrap().is_none());
    let e = actions(&db, "user.tokens_revoked").await.pop().unwrap();
    assert_eq!(
        (e.actor.as_str(), e.reason.as_deref()),
        ("dr.admin", Some("laptop stolen"))
    );

    // A password change needs the current password and ends every session.
    let c = users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    let d = users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    assert!(matches!(
        users::change_password(&db, "beds.ben", "not my password", "a brand new one").await,
        Err(Error::BadCredentials(_))
    ));
    assert!(matches!(
        users::change_password(&db, "beds.ben", BEN_PASSWORD, "short").await,
        Err(Error::Invalid(_))
    ));
    users::change_password(&db, "beds.ben", BEN_PASSWORD, "a brand new one")
        .await
        .unwrap();
    for t in [&c.token, &d.token] {
        assert!(users::authenticate(&db, t).await.unwrap().is_none());
    }
    assert!(matches!(
        users::login(&db, "beds.ben", BEN_PASSWORD, DEFAULT_TOKEN_TTL).await,
        Err(Error::BadCredentials(_))
    ));
    users::login(&db, "beds.ben", "a brand new one", DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    let e = actions(&db, "user.password_changed").await.pop().unwrap();
    assert_eq!(
        e.meaning.as_deref(),
        Some("changed their password; revoked 2 token(s)")
    );
    // Only hashes are stored: neither the tokens nor the password appear in the table.
    let stored: Vec<String> = sqlx::query("SELECT token_sha256 FROM api_tokens")
        .fetch_all(db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| sqlx::Row::get(r, 0))
        .collect();
    assert!(!stored.contains(&c.token));
    let phc: String = sqlx::query("SELECT password_phc FROM users WHERE user_name = 'beds.ben'")
        .fetch_one(db.pool())
        .await
        .map(|r| sqlx::Row::get(&r, 0))
        .unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn lockout_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    wrong_passwords_lock_the_account_for_a_while(db).await;
}

#[tokio::test]
async fn lockout_on_postgres() {
    wrong_passwords_lock_the_account_for_a_while(common::postgres().await).await;
}

#[tokio::test]
async fn tokens_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    tokens_expire_and_are_revoked(db).await;
}

#[tokio::test]
async fn tokens_on_postgres() {
    tokens_expire_and_are_revoked(common::postgres().await).await;
}

/// The CLI's admin commands name their admin with `--by`: the name proves nothing
/// without that admin's password, a wrong one counts like a wrong login, and a right
/// password of a user who is not an admin is still refused.
async fn an_admin_named_on_the_command_line_must_enter_their_password(db: Db) {
    site(&db).await;
    assert!(matches!(
        users::confirm_admin(&db, "dr.admin", "a guess", "install a production model").await,
        Err(Error::BadCredentials(_))
    ));
    let failed = actions(&db, "user.password_failed").await.pop().unwrap();
    assert_eq!(failed.actor, "dr.admin");
    assert!(
        failed
            .meaning
            .as_deref()
            .unwrap()
            .contains("install a production model"),
        "{failed:?}"
    );
    assert!(matches!(
        users::confirm_admin(&db, "beds.ben", BEN_PASSWORD, "provision users").await,
        Err(Error::Forbidden(m)) if m.contains("only an admin may provision users")
    ));
    assert!(matches!(
        users::confirm_admin(&db, "nobody", ADMIN_PASSWORD, "provision users").await,
        Err(Error::BadCredentials(_))
    ));
    users::confirm_admin(&db, "dr.admin", ADMIN_PASSWORD, "provision users")
        .await
        .unwrap();
    // The right password clears the failed attempt: the next four wrong ones do not lock.
    for _ in 0..4 {
        let _ = users::confirm_admin(&db, "dr.admin", "a guess", "provision users").await;
    }
    users::confirm_admin(&db, "dr.admin", ADMIN_PASSWORD, "provision users")
        .await
        .unwrap();
    assert!(actions(&db, "user.locked").await.is_empty());
}

#[tokio::test]
async fn cli_admin_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    an_admin_named_on_the_command_line_must_enter_their_password(db).await;
}

#[tokio::test]
async fn cli_admin_on_postgres() {
    an_admin_named_on_the_command_line_must_enter_their_password(common::postgres().await).await;
}
