//! The user's HTTPRoute, all of it in one place: read into what `step` observes, the managed
//! parts edited ([`edit`]), written back with the `resourceVersion` read, so a concurrent edit
//! by the user is never overwritten (409, and the next reconcile edits the new version).

pub mod edit;

use gateway_api::httproutes::HttpRoute;
use kube::Api;

use kulta::{BackendWeight, HeaderRouteRule, ObservedHttpRoute};

use crate::operator::error::Failure;
use crate::operator::execute::post_params;

/// Set the stable and canary weights.
pub async fn set_weights(
    api: &Api<HttpRoute>,
    name: &str,
    stable: &BackendWeight,
    canary: &BackendWeight,
) -> Result<(), Failure> {
    let mut route = api.get(name).await?;
    edit::set_weights(&mut route, stable, canary)?;
    api.replace(name, &post_params(), &route).await?;
    Ok(())
}

/// Put or remove KULTA's header rule.
pub async fn set_header_rule(
    api: &Api<HttpRoute>,
    name: &str,
    rule: Option<&HeaderRouteRule>,
    stable_service: &str,
) -> Result<(), Failure> {
    let mut route = api.get(name).await?;
    edit::set_header_rule(&mut route, rule, stable_service);
    api.replace(name, &post_params(), &route).await?;
    Ok(())
}

/// The managed parts of the route, as `step` observes them; `None` when it does not exist.
pub async fn read(
    api: &Api<HttpRoute>,
    name: &str,
    stable_service: &str,
    canary_service: &str,
) -> Result<Option<ObservedHttpRoute>, kube::Error> {
    let route = crate::operator::observe::read(|| api.get_opt(name)).await?;
    Ok(route.map(|route| edit::observe(&route, stable_service, canary_service)))
}
