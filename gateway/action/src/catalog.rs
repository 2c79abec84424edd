//! The catalog of Matrix endpoints, built from ruma's endpoint metadata.
//!
//! Each entry names one ruma request type; its method and every path it has
//! had (`r0`, `v3`, unstable prefixes) come from ruma's `Metadata`. The paths
//! feed a [`matchit`] router. An entry may name a parser that turns the ruma
//! request into a typed [`Action`]; entries without one are still parsed by
//! ruma, so their shape is checked against the spec, and become
//! [`Action::Other`].

#![allow(
    deprecated,
    reason = "the legacy media endpoints are deprecated in the spec but still served and used"
)]

use std::sync::LazyLock;

use http::Method;
use ruma::api::{IncomingRequest, IncomingRequestExt, Metadata, path_builder::PathBuilder};

use crate::{Action, Api, ClassifyError, Endpoint, parse};

/// How the proxy reads a request body before classification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyMode {
    /// The body is read whole (up to the JSON size limit) and inspected.
    Buffered,
    /// The body is streamed to the homeserver unread (media uploads).
    Streamed,
}

/// Turns ruma's view of a request into an [`Action`].
pub(crate) type Parser = fn(http::Request<&[u8]>, &[&str]) -> Result<Action, ClassifyError>;

/// One endpoint version: its method, paths and parser.
#[derive(Debug)]
pub struct Route {
    /// The endpoint this route belongs to.
    pub endpoint: Endpoint,
    /// The HTTP method the endpoint is called with.
    pub method: Method,
    /// Whether the body is inspected or streamed.
    pub body: BodyMode,
    /// Whether the endpoint is called with an `X-Matrix` server signature.
    pub server_signed: bool,
    paths: Vec<&'static str>,
    parse: Parser,
}

impl Route {
    fn new<R: Metadata>(api: Api, name: &'static str, body: BodyMode, parse: Parser) -> Self
    where
        R::Authentication: 'static,
    {
        Self {
            endpoint: Endpoint { api, name },
            method: R::METHOD,
            body,
            server_signed: std::any::TypeId::of::<R::Authentication>()
                == std::any::TypeId::of::<ruma::api::federation::authentication::ServerSignatures>(
                ),
            paths: R::PATH_BUILDER.all_paths().collect(),
            parse,
        }
    }

    /// Parses the request with this route's parser.
    pub(crate) fn parse(
        &self,
        request: http::Request<&[u8]>,
        args: &[&str],
    ) -> Result<Action, ClassifyError> {
        (self.parse)(request, args)
    }
}

/// Parses a request with ruma, checking its shape, and keeps no detail.
fn other<R: IncomingRequest>(
    request: http::Request<&[u8]>,
    args: &[&str],
) -> Result<Action, ClassifyError> {
    R::try_from_http_request(request, args).map_err(parse::ruma_error)?;
    Ok(Action::Other)
}

/// One router slot: a route, and whether the path ended in an empty last
/// parameter (`…/state/m.room.name/` has the state key `""`).
#[derive(Clone, Copy, Debug)]
struct Slot {
    route: usize,
    empty_tail: bool,
}

/// The result of looking a method and path up in the catalog.
#[derive(Debug)]
pub enum Lookup<'c> {
    /// A route matched.
    Found(RouteMatch<'c>),
    /// `OPTIONS` on a path the catalog knows.
    Preflight(Endpoint),
    /// The path is known, the method is not.
    MethodNotAllowed,
    /// The path is not a Matrix endpoint.
    NotFound,
}

impl Lookup<'_> {
    /// The endpoint looked up, if the path names one (also when the request
    /// later turns out to be invalid).
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            Self::Found(matched) => Some(matched.route.endpoint),
            Self::Preflight(endpoint) => Some(*endpoint),
            Self::MethodNotAllowed | Self::NotFound => None,
        }
    }

    /// Whether the endpoint looked up is called with an `X-Matrix` signature.
    pub fn server_signed(&self) -> bool {
        matches!(self, Self::Found(matched) if matched.route.server_signed)
    }

    /// How the request's body is to be read before classification.
    pub fn body_mode(&self) -> BodyMode {
        match self {
            Self::Found(matched) => matched.route.body,
            _ => BodyMode::Buffered,
        }
    }
}

/// A matched route and the raw (still percent-encoded) path arguments.
#[derive(Debug)]
pub struct RouteMatch<'c> {
    /// The route matched.
    pub route: &'c Route,
    /// Path arguments in the order of the path, percent-encoded.
    pub args: Vec<&'c str>,
}

/// Every Matrix endpoint the gateway recognises, and a router over their paths.
pub struct Catalog {
    routes: Vec<Route>,
    router: matchit::Router<Vec<Slot>>,
    conflicts: Vec<String>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("routes", &self.routes.len())
            .finish()
    }
}

static CATALOG: LazyLock<Catalog> =
    LazyLock::new(|| Catalog::build(routes().into_iter().chain(legacy_routes()).collect()));

/// Endpoints that homeservers still serve but ruma no longer describes;
/// named here so that a profile can decide on them by name.
fn legacy_routes() -> Vec<Route> {
    vec![Route {
        endpoint: Endpoint::client("initial_sync"),
        method: Method::GET,
        body: BodyMode::Buffered,
        server_signed: false,
        paths: vec![
            "/_matrix/client/r0/initialSync",
            "/_matrix/client/v3/initialSync",
        ],
        parse: parse::client::legacy,
    }]
}

impl Catalog {
    /// The catalog built from ruma's metadata (built once, on first use).
    pub fn global() -> &'static Self {
        &CATALOG
    }

    fn build(routes: Vec<Route>) -> Self {
        let mut by_path: std::collections::BTreeMap<String, Vec<Slot>> = Default::default();
        for (index, route) in routes.iter().enumerate() {
            for path in &route.paths {
                let pattern = positional_pattern(path);
                by_path.entry(pattern.clone()).or_default().push(Slot {
                    route: index,
                    empty_tail: false,
                });
                if let Some(stem) = pattern.strip_suffix('}').and_then(|p| p.rsplit_once('{')) {
                    by_path.entry(stem.0.to_owned()).or_default().push(Slot {
                        route: index,
                        empty_tail: true,
                    });
                    // The spec makes the slash before an empty state key
                    // optional, and some clients (matrix-nio) always drop it.
                    if path.ends_with("/{state_key}") {
                        let bare = stem.0.trim_end_matches('/').to_owned();
                        by_path.entry(bare).or_default().push(Slot {
                            route: index,
                            empty_tail: true,
                        });
                    }
                }
            }
        }
        let mut router = matchit::Router::new();
        let mut conflicts = Vec::new();
        for (pattern, slots) in by_path {
            let tail_only = slots.iter().all(|slot| slot.empty_tail);
            if let Err(error) = router.insert(pattern.clone(), slots) {
                // An empty-tail alias that collides with a real route loses.
                if !tail_only {
                    conflicts.push(format!("{pattern}: {error}"));
                }
            }
        }
        Self {
            routes,
            router,
            conflicts,
        }
    }

    /// Every route in the catalog.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Every distinct endpoint in the catalog.
    pub fn endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        let mut seen = std::collections::BTreeSet::new();
        self.routes
            .iter()
            .map(|route| route.endpoint)
            .filter(move |endpoint| seen.insert(*endpoint))
    }

    /// Whether the catalog knows an endpoint of this name.
    pub fn contains(&self, endpoint: &Endpoint) -> bool {
        self.routes.iter().any(|route| route.endpoint == *endpoint)
    }

    /// Paths that could not be added to the router (a catalog defect).
    pub fn conflicts(&self) -> &[String] {
        &self.conflicts
    }

    /// Looks a method and a raw path (no query) up.
    pub fn lookup<'c>(&'c self, method: &Method, path: &'c str) -> Lookup<'c> {
        let Ok(matched) = self.router.at(path) else {
            return Lookup::NotFound;
        };
        let wanted = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let found = matched
            .value
            .iter()
            .find(|slot| self.routes[slot.route].method == wanted);
        match found {
            Some(slot) => {
                let mut args: Vec<&str> = matched.params.iter().map(|(_, value)| value).collect();
                if slot.empty_tail {
                    args.push("");
                }
                Lookup::Found(RouteMatch {
                    route: &self.routes[slot.route],
                    args,
                })
            }
            None if method == Method::OPTIONS => match matched.value.first() {
                Some(slot) => Lookup::Preflight(self.routes[slot.route].endpoint),
                None => Lookup::NotFound,
            },
            None => Lookup::MethodNotAllowed,
        }
    }
}

/// Rewrites ruma's `{room_id}` parameters as positional `{p0}`, `{p1}`, … so
/// that paths naming one position differently do not conflict in the router.
fn positional_pattern(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut index = 0;
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        out.push_str(&format!("{{p{index}}}"));
        index += 1;
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

macro_rules! api_of {
    (client) => {
        Api::Client
    };
    (federation) => {
        Api::Federation
    };
}

macro_rules! route {
    ($api:ident $name:ident [$($module:ident)::+]) => {
        Route::new::<ruma::api::$api::$($module)::+::Request>(
            api_of!($api),
            stringify!($name),
            BodyMode::Buffered,
            other::<ruma::api::$api::$($module)::+::Request>,
        )
    };
    ($api:ident $name:ident [$($module:ident)::+] streamed $parser:path) => {
        Route::new::<ruma::api::$api::$($module)::+::Request>(
            api_of!($api),
            stringify!($name),
            BodyMode::Streamed,
            $parser,
        )
    };
    ($api:ident $name:ident [$($module:ident)::+] $parser:path) => {
        Route::new::<ruma::api::$api::$($module)::+::Request>(
            api_of!($api),
            stringify!($name),
            BodyMode::Buffered,
            $parser,
        )
    };
}

macro_rules! catalog {
    ($( ( $($entry:tt)* ) )*) => {
        fn routes() -> Vec<Route> {
            vec![$( route!($($entry)*) ),*]
        }
    };
}

// One line per ruma request type: api, endpoint name, ruma module, and the
// parser for endpoints with a typed action.
catalog! {
    (client add_3pid [account::add_3pid::v3])
    (client bind_3pid [account::bind_3pid::v3])
    (client change_password [account::change_password::v3])
    (client check_registration_token_validity [account::check_registration_token_validity::v1])
    (client deactivate [account::deactivate::v3])
    (client delete_3pid [account::delete_3pid::v3])
    (client get_3pids [account::get_3pids::v3])
    (client get_username_availability [account::get_username_availability::v3])
    (client register [account::register::v3])
    (client request_3pid_management_token_via_email [account::request_3pid_management_token_via_email::v3])
    (client request_3pid_management_token_via_msisdn [account::request_3pid_management_token_via_msisdn::v3])
    (client request_openid_token [account::request_openid_token::v3])
    (client request_password_change_token_via_email [account::request_password_change_token_via_email::v3])
    (client request_password_change_token_via_msisdn [account::request_password_change_token_via_msisdn::v3])
    (client request_registration_token_via_email [account::request_registration_token_via_email::v3])
    (client request_registration_token_via_msisdn [account::request_registration_token_via_msisdn::v3])
    (client unbind_3pid [account::unbind_3pid::v3])
    (client whoami [account::whoami::v3])
    (client get_user_info [admin::get_user_info::v3])
    (client is_user_locked [admin::is_user_locked::v1])
    (client is_user_suspended [admin::is_user_suspended::v1])
    (client lock_user [admin::lock_user::v1])
    (client suspend_user [admin::suspend_user::v1])
    (client create_alias [alias::create_alias::v3])
    (client delete_alias [alias::delete_alias::v3])
    (client get_alias [alias::get_alias::v3])
    (client request_ping [appservice::request_ping::v1])
    (client set_appservice_room_visibility [appservice::set_room_visibility::v3])
    (client get_content [authenticated_media::get_content::v1] parse::client::download)
    (client get_content_as_filename [authenticated_media::get_content_as_filename::v1] parse::client::download_as_filename)
    (client get_content_thumbnail [authenticated_media::get_content_thumbnail::v1] parse::client::thumbnail)
    (client get_media_config [authenticated_media::get_media_config::v1])
    (client get_media_preview [authenticated_media::get_media_preview::v1] parse::client::preview_url)
    (client add_backup_keys [backup::add_backup_keys::v3])
    (client add_backup_keys_for_room [backup::add_backup_keys_for_room::v3])
    (client add_backup_keys_for_session [backup::add_backup_keys_for_session::v3])
    (client create_backup_version [backup::create_backup_version::v3])
    (client delete_backup_keys [backup::delete_backup_keys::v3])
    (client delete_backup_keys_for_room [backup::delete_backup_keys_for_room::v3])
    (client delete_backup_keys_for_session [backup::delete_backup_keys_for_session::v3])
    (client delete_backup_version [backup::delete_backup_version::v3])
    (client get_backup_info [backup::get_backup_info::v3])
    (client get_backup_keys [backup::get_backup_keys::v3])
    (client get_backup_keys_for_room [backup::get_backup_keys_for_room::v3])
    (client get_backup_keys_for_session [backup::get_backup_keys_for_session::v3])
    (client get_latest_backup_info [backup::get_latest_backup_info::v3])
    (client update_backup_version [backup::update_backup_version::v3])
    (client get_global_account_data [config::get_global_account_data::v3])
    (client get_room_account_data [config::get_room_account_data::v3])
    (client set_global_account_data [config::set_global_account_data::v3] parse::client::set_global_account_data)
    (client set_room_account_data [config::set_room_account_data::v3] parse::client::set_room_account_data)
    (client get_context [context::get_context::v3])
    (client delete_dehydrated_device [dehydrated_device::delete_dehydrated_device::unstable])
    (client get_dehydrated_device [dehydrated_device::get_dehydrated_device::unstable])
    (client get_dehydrated_events [dehydrated_device::get_events::unstable])
    (client put_dehydrated_device [dehydrated_device::put_dehydrated_device::unstable])
    (client delete_device [device::delete_device::v3])
    (client delete_devices [device::delete_devices::v3])
    (client get_device [device::get_device::v3])
    (client get_devices [device::get_devices::v3])
    (client update_device [device::update_device::v3])
    (client get_public_rooms [directory::get_public_rooms::v3] parse::client::public_rooms)
    (client get_public_rooms_filtered [directory::get_public_rooms_filtered::v3] parse::client::public_rooms_filtered)
    (client get_room_visibility [directory::get_room_visibility::v3])
    (client set_room_visibility [directory::set_room_visibility::v3] parse::client::set_room_visibility)
    (client discover_homeserver [discovery::discover_homeserver])
    (client discover_policy_server [discovery::discover_policy_server])
    (client discover_support [discovery::discover_support])
    (client get_authorization_server_metadata [discovery::get_authorization_server_metadata::v1])
    (client get_capabilities [discovery::get_capabilities::v3])
    (client get_supported_versions [discovery::get_supported_versions] parse::client::versions)
    (client create_filter [filter::create_filter::v3])
    (client get_filter [filter::get_filter::v3])
    (client claim_keys [keys::claim_keys::v3] parse::client::claim_keys_v3)
    (client get_key_changes [keys::get_key_changes::v3])
    (client get_keys [keys::get_keys::v3] parse::client::get_keys)
    (client upload_keys [keys::upload_keys::v3] parse::client::upload_keys)
    (client upload_signatures [keys::upload_signatures::v3])
    (client upload_signing_keys [keys::upload_signing_keys::v3])
    (client knock_room [knock::knock_room::v3] parse::client::knock_room)
    (client create_content [media::create_content::v3] streamed parse::client::upload_media)
    (client create_content_async [media::create_content_async::v3] streamed parse::client::upload_media)
    (client create_mxc_uri [media::create_mxc_uri::v1])
    (client get_content [media::get_content::v3] parse::client::download_legacy)
    (client get_content_as_filename [media::get_content_as_filename::v3] parse::client::download_as_filename_legacy)
    (client get_content_thumbnail [media::get_content_thumbnail::v3] parse::client::thumbnail_legacy)
    (client get_media_config [media::get_media_config::v3])
    (client get_media_preview [media::get_media_preview::v3] parse::client::preview_url_legacy)
    (client ban_user [membership::ban_user::v3])
    (client forget_room [membership::forget_room::v3])
    (client get_member_events [membership::get_member_events::v3])
    (client get_mutual_rooms [membership::get_mutual_rooms::unstable])
    (client get_mutual_rooms [membership::get_mutual_rooms::v1])
    (client invite_user [membership::invite_user::v3] parse::client::invite_user)
    (client join_room_by_id [membership::join_room_by_id::v3] parse::client::join_room_by_id)
    (client join_room_by_id_or_alias [membership::join_room_by_id_or_alias::v3] parse::client::join_room_by_id_or_alias)
    (client joined_members [membership::joined_members::v3])
    (client joined_rooms [membership::joined_rooms::v3])
    (client kick_user [membership::kick_user::v3])
    (client leave_room [membership::leave_room::v3] parse::client::leave_room)
    (client unban_user [membership::unban_user::v3])
    (client get_message_events [message::get_message_events::v3] parse::client::messages)
    (client send_message_event [message::send_message_event::v3] parse::client::send_message_event)
    (client get_all_delayed_events [delayed_events::get_all_delayed_events::unstable])
    (client get_delayed_event [delayed_events::get_delayed_event::unstable])
    (client send_delayed_event [delayed_events::send_delayed_event::unstable] parse::client::send_delayed_event)
    (client update_delayed_event [delayed_events::update_delayed_event::unstable_v1])
    (client update_delayed_event [delayed_events::update_delayed_event::unstable_v2])
    (client get_current_state [peeking::get_current_state::v3])
    (client listen_to_new_events [peeking::listen_to_new_events::v3] parse::client::events)
    (client get_presence [presence::get_presence::v3])
    (client set_presence [presence::set_presence::v3])
    (client delete_profile_field [profile::delete_profile_field::v3])
    (client get_avatar_url [profile::get_avatar_url::v3] parse::client::get_avatar_url)
    (client get_display_name [profile::get_display_name::v3] parse::client::get_display_name)
    (client get_profile [profile::get_profile::v3] parse::client::get_profile)
    (client get_profile_field [profile::get_profile_field::v3] parse::client::get_profile_field)
    (client set_avatar_url [profile::set_avatar_url::v3])
    (client set_display_name [profile::set_display_name::v3])
    (client set_profile_field [profile::set_profile_field::v3])
    (client delete_pushrule [push::delete_pushrule::v3])
    (client get_notifications [push::get_notifications::v3])
    (client get_pushers [push::get_pushers::v3])
    (client get_pushrule [push::get_pushrule::v3])
    (client get_pushrule_actions [push::get_pushrule_actions::v3])
    (client get_pushrule_enabled [push::get_pushrule_enabled::v3])
    (client get_pushrules_all [push::get_pushrules_all::v3])
    (client get_pushrules_global_scope [push::get_pushrules_global_scope::v3])
    (client set_pusher [push::set_pusher::v3])
    (client set_pushrule [push::set_pushrule::v3])
    (client set_pushrule_actions [push::set_pushrule_actions::v3])
    (client set_pushrule_enabled [push::set_pushrule_enabled::v3])
    (client set_read_marker [read_marker::set_read_marker::v3])
    (client create_receipt [receipt::create_receipt::v3])
    (client redact_event [redact::redact_event::v3] parse::client::redact_event)
    (client get_relating_events [relations::get_relating_events::v1])
    (client get_relating_events_with_rel_type [relations::get_relating_events_with_rel_type::v1])
    (client get_relating_events_with_rel_type_and_event_type [relations::get_relating_events_with_rel_type_and_event_type::v1])
    (client report_user [reporting::report_user::v3])
    (client aliases [room::aliases::v3])
    (client create_room [room::create_room::v3] parse::client::create_room)
    (client get_event_by_timestamp [room::get_event_by_timestamp::v1])
    (client get_room_event [room::get_room_event::v3])
    (client get_summary [room::get_summary::v1])
    (client report_content [room::report_content::v3])
    (client report_room [room::report_room::v3])
    (client upgrade_room [room::upgrade_room::v3] parse::client::upgrade_room)
    (client search_events [search::search_events::v3])
    (client get_login_token [session::get_login_token::v1])
    (client get_login_types [session::get_login_types::v3])
    (client login [session::login::v3])
    (client login_fallback [session::login_fallback])
    (client logout [session::logout::v3])
    (client logout_all [session::logout_all::v3])
    (client refresh_token [session::refresh_token::v3])
    (client sso_login [session::sso_login::v3])
    (client sso_login_with_provider [session::sso_login_with_provider::v3])
    (client get_hierarchy [space::get_hierarchy::v1] parse::client::hierarchy)
    (client get_state_event_for_key [state::get_state_event_for_key::v3])
    (client get_state_events [state::get_state_events::v3])
    (client send_state_event [state::send_state_event::v3] parse::client::send_state_event)
    (client sync_events [sync::sync_events::v3])
    (client sync_events [sync::sync_events::v5])
    (client create_tag [tag::create_tag::v3])
    (client delete_tag [tag::delete_tag::v3])
    (client get_tags [tag::get_tags::v3])
    (client get_location_for_protocol [thirdparty::get_location_for_protocol::v3])
    (client get_location_for_room_alias [thirdparty::get_location_for_room_alias::v3])
    (client get_protocol [thirdparty::get_protocol::v3])
    (client get_protocols [thirdparty::get_protocols::v3])
    (client get_user_for_protocol [thirdparty::get_user_for_protocol::v3])
    (client get_user_for_user_id [thirdparty::get_user_for_user_id::v3])
    (client get_threads [threads::get_threads::v1])
    (client send_event_to_device [to_device::send_event_to_device::v3])
    (client create_typing_event [typing::create_typing_event::v3])
    (client get_uiaa_fallback_page [uiaa::get_uiaa_fallback_page::v3])
    (client search_users [user_directory::search_users::v3] parse::client::search_users)
    (client get_turn_server_info [voip::get_turn_server_info::v3])
    (federation get_content [authenticated_media::get_content::v1] parse::federation::download)
    (federation get_content_thumbnail [authenticated_media::get_content_thumbnail::v1] parse::federation::thumbnail)
    (federation get_event_authorization [authorization::get_event_authorization::v1])
    (federation get_backfill [backfill::get_backfill::v1] parse::federation::backfill)
    (federation get_devices [device::get_devices::v1] parse::federation::get_devices)
    (federation get_public_rooms [directory::get_public_rooms::v1] parse::federation::public_rooms)
    (federation get_public_rooms_filtered [directory::get_public_rooms_filtered::v1] parse::federation::public_rooms_filtered)
    (federation discover_homeserver [discovery::discover_homeserver])
    (federation get_remote_server_keys [discovery::get_remote_server_keys::v2] parse::federation::remote_server_keys)
    (federation get_remote_server_keys_batch [discovery::get_remote_server_keys_batch::v2] parse::federation::remote_server_keys_batch)
    (federation get_server_keys [discovery::get_server_keys::v2] parse::federation::server_keys)
    (federation get_server_version [discovery::get_server_version::v1])
    (federation get_event [event::get_event::v1] parse::federation::get_event)
    (federation get_event_by_timestamp [event::get_event_by_timestamp::v1])
    (federation get_missing_events [event::get_missing_events::v1] parse::federation::get_missing_events)
    (federation get_room_state [event::get_room_state::v1] parse::federation::room_state)
    (federation get_room_state_ids [event::get_room_state_ids::v1] parse::federation::room_state_ids)
    (federation claim_keys [keys::claim_keys::v1] parse::federation::claim_keys)
    (federation get_keys [keys::get_keys::v1] parse::federation::get_keys)
    (federation create_invite [membership::create_invite::v1] parse::federation::invite_v1)
    (federation create_invite [membership::create_invite::v2] parse::federation::invite_v2)
    (federation create_join_event [membership::create_join_event::v2] parse::federation::send_join)
    (federation create_knock_event [membership::create_knock_event::v1] parse::federation::send_knock)
    (federation create_leave_event [membership::create_leave_event::v2] parse::federation::send_leave)
    (federation prepare_join_event [membership::prepare_join_event::v1] parse::federation::make_join)
    (federation prepare_knock_event [membership::prepare_knock_event::v1] parse::federation::make_knock)
    (federation prepare_leave_event [membership::prepare_leave_event::v1] parse::federation::make_leave)
    (federation get_openid_userinfo [openid::get_openid_userinfo::v1])
    (federation sign_event [policy::sign_event::v1])
    (federation get_custom_information [query::get_custom_information::v1])
    (federation get_profile_information [query::get_profile_information::v1] parse::federation::query_profile)
    (federation get_room_information [query::get_room_information::v1] parse::federation::query_directory)
    (federation get_hierarchy [space::get_hierarchy::v1] parse::federation::hierarchy)
    (federation bind_callback [thirdparty::bind_callback::v1])
    (federation exchange_invite [thirdparty::exchange_invite::v1])
    (federation send_transaction_message [transactions::send_transaction_message::v1] parse::federation::send_transaction)
}
