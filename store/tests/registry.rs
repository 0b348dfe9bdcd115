//! The model registry on real databases: register, install the first production
//! version (a later one is refused: it needs a model release), list, only an admin may
//! change it, every change audited in its own transaction, and a failed installation
//! leaves nothing half-done.

mod common;

use careflow_store::registry::{self, ModelFacts, Status};
use careflow_store::{audit, users, Db, Error};
use careflow_types::Role;

fn facts(version: &str) -> ModelFacts {
    ModelFacts {
        name: "ed-arrivals".into(),
        version: version.into(),
        sha256: format!("{:0>64}", version.replace('.', "")),
        card_json: format!(r#"{{"name":"ed-arrivals","version":"{version}"}}"#),
    }
}

async fn register_promote_list(db: Db) {
    users::upsert(&db, "dr.lead", Role::Admin, "test")
        .await
        .unwrap();
    users::upsert(&db, "beds.ben", Role::BedManager, "test")
        .await
        .unwrap();

    let e1 = registry::register(&db, &facts("1.0.0"), "dr.lead")
        .await
        .unwrap();
    assert_eq!(
        (e1.name.as_str(), e1.version.as_str(), e1.status),
        ("ed-arrivals", "1.0.0", Status::Candidate)
    );
    assert_eq!(e1.sha256, facts("1.0.0").sha256);
    assert!(chrono::DateTime::parse_from_rfc3339(&e1.registered_at).is_ok());
    registry::register(&db, &facts("1.1.0"), "dr.lead")
        .await
        .unwrap();
    let again = registry::register(&db, &facts("1.0.0"), "dr.lead").await;
    assert!(
        matches!(&again, Err(Error::Conflict(m)) if m.contains("already registered")),
        "{again:?}"
    );
    // Only an administrator changes the registry; a bed manager or a stranger cannot.
    for who in ["beds.ben", "nobody"] {
        let e = registry::register(&db, &facts("2.0.0"), who).await;
        assert!(matches!(e, Err(Error::Forbidden(_))), "{who}: {e:?}");
        let e = registry::install(&db, "ed-arrivals", "1.0.0", who, "why").await;
        assert!(matches!(e, Err(Error::Forbidden(_))), "{who}: {e:?}");
    }

    assert!(matches!(
        registry::production(&db, "ed-arrivals").await,
        Err(Error::NotFound(_))
    ));
    // A failed installation (unknown version) leaves nothing: no production model, and
    // no audit entry claims the change.
    let before = audit::entries(&db).await.unwrap().len();
    assert!(matches!(
        registry::install(&db, "ed-arrivals", "9.9.9", "dr.lead", "y").await,
        Err(Error::NotFound(_))
    ));
    assert_eq!(audit::entries(&db).await.unwrap().len(), before);
    assert!(matches!(
        registry::install(&db, "ed-arrivals", "1.0.0", "dr.lead", " ").await,
        Err(Error::Invalid(_))
    ));
    let p1 = registry::install(
        &db,
        "ed-arrivals",
        "1.0.0",
        "dr.lead",
        "installed with the site",
    )
    .await
    .unwrap();
    assert_eq!(p1.status, Status::Production);
    assert_eq!(p1.promoted_by.as_deref(), Some("dr.lead"));
    assert_eq!(
        p1.promotion_reason.as_deref(),
        Some("installed with the site")
    );
    // Installing it again changes nothing; another version is refused: it needs a release.
    registry::install(&db, "ed-arrivals", "1.0.0", "dr.lead", "again")
        .await
        .unwrap();
    let e = registry::install(&db, "ed-arrivals", "1.1.0", "dr.lead", "better pinball").await;
    assert!(
        matches!(&e, Err(Error::Conflict(m)) if m.contains("model release")),
        "{e:?}"
    );
    let all = registry::list(&db, Some("ed-arrivals")).await.unwrap();
    let status_of = |v: &str| all.iter().find(|e| e.version == v).unwrap().status;
    assert_eq!(status_of("1.0.0"), Status::Production);
    assert_eq!(status_of("1.1.0"), Status::Candidate);
    assert_eq!(registry::list(&db, None).await.unwrap().len(), 2);
    assert_eq!(registry::list(&db, Some("nope")).await.unwrap().len(), 0);
    assert!(
        matches!("live".parse::<Status>(), Err(Error::Invalid(m)) if m.contains("unknown model status"))
    );

    // Every change is in the audit trail, by whom and why, and the chain verifies.
    let entries = audit::entries(&db).await.unwrap();
    let model_entries: Vec<_> = entries
        .iter()
        .filter(|e| e.action.starts_with("model."))
        .collect();
    assert_eq!(
        model_entries
            .iter()
            .map(|e| e.action.as_str())
            .collect::<Vec<_>>(),
        ["model.registered", "model.registered", "model.installed"]
    );
    assert!(model_entries.iter().all(|e| e.actor == "dr.lead"));
    let last = model_entries.last().unwrap();
    assert_eq!(last.reason.as_deref(), Some("installed with the site"));
    assert!(audit::verify(&db).await.unwrap().first_break.is_none());
}

#[tokio::test]
async fn registry_on_sqlite() {
    let (_dir, db) = common::sqlite().await;
    register_promote_list(db).await;
}

#[tokio::test]
async fn registry_on_postgres() {
    register_promote_list(common::postgres().await).await;
}
