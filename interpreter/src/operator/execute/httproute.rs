//! HTTPRoute: read, edit the managed parts with [`crate::route`], write back with the
//! `resourceVersion` read, so a concurrent edit by the user is never overwritten (409, and the
//! next reconcile edits the new version).

use gateway_api::httproutes::HttpRoute;
use kube::Api;
use kube::api::PostParams;
use kulta::{BackendWeight, HeaderRouteRule};

use super::EffectFailure;

/// Set the stable and canary weights.
pub async fn set_weights(
    api: &Api<HttpRoute>,
    name: &str,
    stable: &BackendWeight,
    canary: &BackendWeight,
) -> Result<(), EffectFailure> {
    let mut route = api.get(name).await?;
    crate::route::set_weights(&mut route, stable, canary)?;
    api.replace(name, &PostParams::default(), &route).await?;
    Ok(())
}

/// Put or remove KULTA's header rule.
pub async fn set_header_rule(
    api: &Api<HttpRoute>,
    name: &str,
    rule: Option<&HeaderRouteRule>,
    stable_service: &str,
) -> Result<(), EffectFailure> {
    let mut route = api.get(name).await?;
    crate::route::set_header_rule(&mut route, rule, stable_service);
    api.replace(name, &PostParams::default(), &route).await?;
    Ok(())
}
