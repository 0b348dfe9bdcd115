//! Provisioning users on real databases: the local operator may create the first admin
//! of a site that has none and nothing else; after that only an admin provisions, a
//! non-admin or a stranger is refused, the last admin cannot be demoted, a password
//! that breaks the rules is refused, and every provisioning is audited (who, what, why)
//! while a refusal writes nothing. Re-provisioning resets the password and ends the
//! user's sessions.

mod common;

use std::future::Future;

use careflow_store::users::{self, NewUser, Provisioner, DEFAULT_TOKEN_TTL, LOCAL_OPERATOR};
use careflow_store::{audit, Db, Error};
use careflow_types::{AuditEntry, Role};

/// Runs `provisioning`, which must be refused with an error that `matches`, and checks
/// that the refusal left the audit trail as it was.
async fn assert_refused(
    db: &Db,
    provisioning: impl Future<Output = Result<(), Error>>,
    matches: fn(&Error) -> bool,
) {
    let before = audit::entries(db).await.unwrap().len();
    match provisioning.await {
        Ok(_) => panic!("provisioning should have been refused"),
        Err(e) => assert!(matches(&e), "{e:?}"),
    }
    assert_eq!(audit::entries(db).await.unwrap().len(), before);
}

const PASSWORD: &str = "correct horse battery";

fn user(name: &str, role: Role) -> NewUser<'_> {
    NewUser {
        name,
        role,
        printed_name: None,
        password: PASSWORD,
    }
}

async fn last_entry(db: &Db) -> AuditEntry {
    audit::entries(db).await.unwrap().pop().unwrap()
}

async fn provisioning_is_checked_and_audited(db: Db) {
    // An empty site: the local operator may create the first admin, nothing else.
    assert!(users::admins(&db).await.unwrap().is_empty());
    let r = users::provision(
        &db,
        user("beds.ben", Role::BedManager),
        Provisioner::LocalOperator,
        None,
    );
    assert_refused(
        &db,
        r,
        |e| matches!(e, Error::Forbidden(m) if m.contains("only create its first admin")),
    )
    .await;
    users::provision(
        &db,
        user("dr.first", Role::Admin),
        Provisioner::LocalOperator,
        None,
    )
    .await
    .unwrap();
    let e = last_entry(&db).await;
    assert_eq!(
        (e.action.as_str(), e.actor.as_str(), e.role.as_str()),
        ("user.provisioned", LOCAL_OPERATOR, "local_operator")
    );
    assert_eq!(
        e.meaning.as_deref(),
        Some("created user dr.first with role admin")
    );
    assert!(
        e.reason.as_deref().unwrap().contains("no admin existed"),
        "{e:?}"
    );

    // Once there is an admin, the bootstrap is closed, for any role.
    for role in [Role::Admin, Role::AdmissionsClerk] {
        let r = users::provision(
            &db,
            user("dr.second", role),
            Provisioner::LocalOperator,
            None,
        );
        assert_refused(&db, r, |e| {
            matches!(e, Error::Forbidden(m) if m.contains("dr.first") && m.contains("only an admin"))
        })
        .await;
    }
    assert_eq!(users::admins(&db).await.unwrap(), ["dr.first"]);

    // An admin provisions, with the why recorded.
    users::provision(
        &db,
        user("beds.ben", Role::BedManager),
        Provisioner::Admin("dr.first"),
        Some("joined the bed team"),
    )
    .await
    .unwrap();
    let e = last_entry(&db).await;
    assert_eq!(
        (e.actor.as_str(), e.role.as_str(), e.reason.as_deref()),
        ("dr.first", "admin", Some("joined the bed team"))
    );
    assert_eq!(
        e.meaning.as_deref(),
        Some("created user beds.ben with role bed_manager")
    );

    // A non-admin, a stranger and a bad name are refused.
    let r = users::provision(
        &db,
        user("clerk.ana", Role::AdmissionsClerk),
        Provisioner::Admin("beds.ben"),
        None,
    );
    assert_refused(
        &db,
        r,
        |e| matches!(e, Error::Forbidden(m) if m.contains("holds role bed_manager")),
    )
    .await;
    let r = users::provision(
        &db,
        user("clerk.ana", Role::Admin),
        Provisioner::Admin("nobody"),
        None,
    );
    assert_refused(
        &db,
        r,
        |e| matches!(e, Error::Forbidden(m) if m.contains("not a careflow user")),
    )
    .await;
    let r = users::provision(
        &db,
        user("ana smith", Role::AdmissionsClerk),
        Provisioner::Admin("dr.first"),
        None,
    );
    assert_refused(&db, r, |e| matches!(e, Error::Invalid(_))).await;
    // A password shorter than the rules allow is refused, naming the rule.
    let short = NewUser {
        password: "short",
        ..user("clerk.ana", Role::AdmissionsClerk)
    };
    let r = users::provision(&db, short, Provisioner::Admin("dr.first"), None);
    assert_refused(
        &db,
        r,
        |e| matches!(e, Error::Invalid(m) if m.contains("password: must be at least 10")),
    )
    .await;
    let session = users::login(&db, "beds.ben", PASSWORD, DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    assert_eq!(
        users::authenticate(&db, &session.token)
            .await
            .unwrap()
            .unwrap(),
        users::User {
            name: "beds.ben".into(),
            role: Role::BedManager
        }
    );

    // Provisioning again resets the password: the old one and the sessions end.
    let reset = NewUser {
        password: "a new password for ben",
        printed_name: Some("Ben Okafor"),
        ..user("beds.ben", Role::BedManager)
    };
    users::provision(&db, reset, Provisioner::Admin("dr.first"), None)
        .await
        .unwrap();
    assert!(users::authenticate(&db, &session.token)
        .await
        .unwrap()
        .is_none());
    assert!(matches!(
        users::login(&db, "beds.ben", PASSWORD, DEFAULT_TOKEN_TTL).await,
        Err(Error::BadCredentials(_))
    ));
    users::login(&db, "beds.ben", "a new password for ben", DEFAULT_TOKEN_TTL)
        .await
        .unwrap();
    assert_eq!(
        users::account(&db, "beds.ben").await.unwrap().printed_name,
        "Ben Okafor"
    );
    let e = audit::entries(&db)
        .await
        .unwrap()
        .into_iter()
        .rfind(|e| e.action == "user.provisioned")
        .unwrap();
    assert_eq!(
        e.meaning.as_deref(),
        Some("reset the password of beds.ben (bed_manager); revoked 1 token(s)")
    );
    assert_eq!(e.reason, None);

    // The last admin cannot be demoted; with a second admin, the first can.
    let r = users::provision(
        &db,
        user("dr.first", Role::Auditor),
        Provisioner::Admin("dr.first"),
        None,
    );
    assert_refused(
        &db,
        r,
        |e| matches!(e, Error::Conflict(m) if m.contains("only admin")),
    )
    .await;
    users::provision(
        &db,
        user("beds.ben", Role::Admin),
        Provisioner::Admin("dr.first"),
        Some("site lead"),
    )
    .await
    .unwrap();
    assert_eq!(
        last_entry(&db).await.meaning.as_deref(),
        Some("changed beds.ben's role from bed_manager to admin and reset the password; revoked 1 token(s)")
    );
    users::provision(
        &db,
        user("dr.first", Role::Auditor),
        Provisioner::Admin("beds.ben"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(users::admins(&db).await.unwrap(), ["beds.ben"]);

    // One entry per provisioning, and the chain holds.
    let provisioned = audit::entries(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "user.provisioned")
        .count();
    assert_eq!(provisioned, 5);
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn provisioning_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    provisioning_is_checked_and_audited(db).await;
}

#[tokio::test]
async fn provisioning_on_postgres() {
    provisioning_is_checked_and_audited(common::postgres().await).await;
}
