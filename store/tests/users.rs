//! Provisioning users on real databases: the local operator may create the first admin
//! of a site that has none and nothing else; after that only an admin provisions, a
//! non-admin or a stranger is refused, the last admin cannot be demoted, and every
//! provisioning is audited (who, what, why) while a refusal writes nothing.

mod common;

use std::future::Future;

use careflow_store::users::{self, Provisioner, LOCAL_OPERATOR};
use careflow_store::{audit, Db, Error};
use careflow_types::{AuditEntry, Role};

/// Runs `provisioning`, which must be refused with an error that `matches`, and checks
/// that the refusal left the audit trail as it was.
async fn assert_refused(
    db: &Db,
    provisioning: impl Future<Output = Result<String, Error>>,
    matches: fn(&Error) -> bool,
) {
    let before = audit::entries(db).await.unwrap().len();
    match provisioning.await {
        Ok(_) => panic!("provisioning should have been refused"),
        Err(e) => assert!(matches(&e), "{e:?}"),
    }
    assert_eq!(audit::entries(db).await.unwrap().len(), before);
}

async fn last_entry(db: &Db) -> AuditEntry {
    audit::entries(db).await.unwrap().pop().unwrap()
}

async fn provisioning_is_checked_and_audited(db: Db) {
    // An empty site: the local operator may create the first admin, nothing else.
    assert!(users::admins(&db).await.unwrap().is_empty());
    let r = users::provision(
        &db,
        "beds.ben",
        Role::BedManager,
        Provisioner::LocalOperator,
        None,
    );
    assert_refused(
        &db,
        r,
        |e| matches!(e, Error::Forbidden(m) if m.contains("only create its first admin")),
    )
    .await;
    let first = users::provision(
        &db,
        "dr.first",
        Role::Admin,
        Provisioner::LocalOperator,
        None,
    )
    .await
    .unwrap();
    let user = users::authenticate(&db, &first).await.unwrap().unwrap();
    assert_eq!((user.name.as_str(), user.role), ("dr.first", Role::Admin));
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
        let r = users::provision(&db, "dr.second", role, Provisioner::LocalOperator, None);
        assert_refused(&db, r, |e| {
            matches!(e, Error::Forbidden(m) if m.contains("dr.first") && m.contains("only an admin"))
        })
        .await;
    }
    assert_eq!(users::admins(&db).await.unwrap(), ["dr.first"]);

    // An admin provisions, with the why recorded.
    let ben = users::provision(
        &db,
        "beds.ben",
        Role::BedManager,
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
        "clerk.ana",
        Role::AdmissionsClerk,
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
        "clerk.ana",
        Role::Admin,
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
        "ana smith",
        Role::AdmissionsClerk,
        Provisioner::Admin("dr.first"),
        None,
    );
    assert_refused(&db, r, |e| matches!(e, Error::Invalid(_))).await;
    assert!(users::authenticate(&db, &ben).await.unwrap().is_some());

    // Provisioning again issues a new token: the old one stops working.
    let ben2 = users::provision(
        &db,
        "beds.ben",
        Role::BedManager,
        Provisioner::Admin("dr.first"),
        None,
    )
    .await
    .unwrap();
    assert!(users::authenticate(&db, &ben).await.unwrap().is_none());
    assert_eq!(
        users::authenticate(&db, &ben2).await.unwrap().unwrap().role,
        Role::BedManager
    );
    let e = last_entry(&db).await;
    assert_eq!(
        e.meaning.as_deref(),
        Some("issued a new token to beds.ben (bed_manager)")
    );
    assert_eq!(e.reason, None);

    // The last admin cannot be demoted; with a second admin, the first can.
    let r = users::provision(
        &db,
        "dr.first",
        Role::Auditor,
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
        "beds.ben",
        Role::Admin,
        Provisioner::Admin("dr.first"),
        Some("site lead"),
    )
    .await
    .unwrap();
    assert_eq!(
        last_entry(&db).await.meaning.as_deref(),
        Some("changed beds.ben's role from bed_manager to admin and issued a new token")
    );
    users::provision(
        &db,
        "dr.first",
        Role::Auditor,
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
