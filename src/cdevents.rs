//! CDEvents as data: deterministic ids and package URLs for the artifact.

use uuid::Uuid;

/// A deterministic event id: a UUIDv5 of the rollout uid, the revision and the transition,
/// so a receiver can drop the copy a restarted controller sends again.
pub fn event_id(uid: &str, revision: &str, transition: &str) -> String {
    let namespace = Uuid::new_v5(&Uuid::NAMESPACE_DNS, b"kulta.io");
    Uuid::new_v5(
        &namespace,
        format!("{uid}/{revision}/{transition}").as_bytes(),
    )
    .to_string()
}

/// The package URL (`pkg:oci/...`) of a container image reference.
///
/// `registry.example.com/team/app:1.2@sha256:abc` becomes
/// `pkg:oci/app@sha256%3Aabc?repository_url=registry.example.com/team/app&tag=1.2`; an image
/// without a registry is on `docker.io` (official images under `library/`).
pub fn image_purl(image: &str) -> String {
    let (rest, digest) = match image.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (image, None),
    };
    // A tag follows the last ':' only if no '/' comes after it (a registry port does).
    let (repository, tag) = match rest.rfind(':') {
        Some(colon) if !rest[colon..].contains('/') => (&rest[..colon], Some(&rest[colon + 1..])),
        _ => (rest, None),
    };
    let mut parts: Vec<&str> = repository.split('/').collect();
    let has_registry = parts.len() > 1
        && (parts[0].contains('.') || parts[0].contains(':') || parts[0] == "localhost");
    let registry = if has_registry {
        parts.remove(0).to_string()
    } else {
        "docker.io".to_string()
    };
    if !has_registry && parts.len() == 1 {
        parts.insert(0, "library");
    }
    let name = parts.last().copied().unwrap_or_default().to_lowercase();
    let repository_url = format!("{registry}/{}", parts.join("/")).replace(':', "%3A");
    let mut purl = format!("pkg:oci/{name}");
    if let Some(digest) = digest {
        purl.push('@');
        purl.push_str(&digest.replace(':', "%3A"));
    }
    purl.push_str("?repository_url=");
    purl.push_str(&repository_url);
    if let Some(tag) = tag.filter(|t| !t.is_empty()) {
        purl.push_str("&tag=");
        purl.push_str(tag);
    }
    purl
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct_per_transition() {
        let a = event_id("uid-1", "abc", "deployed");
        assert_eq!(a, event_id("uid-1", "abc", "deployed"));
        assert_ne!(a, event_id("uid-1", "abc", "published"));
        assert_ne!(a, event_id("uid-2", "abc", "deployed"));
        assert_eq!(a.len(), 36);
    }

    #[test]
    fn image_references_become_oci_package_urls() {
        assert_eq!(
            image_purl("nginx:1.25"),
            "pkg:oci/nginx?repository_url=docker.io/library/nginx&tag=1.25"
        );
        assert_eq!(
            image_purl("ghcr.io/acme/shop/web@sha256:0123abcd"),
            "pkg:oci/web@sha256%3A0123abcd?repository_url=ghcr.io/acme/shop/web"
        );
        assert_eq!(
            image_purl("localhost:5000/app:v2@sha256:ff"),
            "pkg:oci/app@sha256%3Aff?repository_url=localhost%3A5000/app&tag=v2"
        );
        assert_eq!(
            image_purl("acme/app"),
            "pkg:oci/app?repository_url=docker.io/acme/app"
        );
    }
}
