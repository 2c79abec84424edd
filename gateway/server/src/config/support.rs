//! `[support]`: who to contact about this homeserver, served by the gateway
//! itself as `GET /.well-known/matrix/support` (spec v1.10, MSC1929).
//! Without the section the request is forwarded to the homeserver.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::ConfigError;

/// `[support]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Support {
    /// A web page with the support options (`support_page`).
    pub(crate) page: Option<String>,
    /// The people or teams to contact.
    #[serde(default)]
    pub(crate) contacts: Vec<Contact>,
}

/// One `[[support.contacts]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Contact {
    /// `m.role.admin`, `m.role.security`, or a namespaced role.
    pub(crate) role: String,
    /// A Matrix user id to write to.
    pub(crate) matrix_id: Option<String>,
    /// An email address to write to.
    pub(crate) email: Option<String>,
}

impl Support {
    /// The answer's body, once every entry is checked.
    pub(crate) fn body(&self) -> Result<Vec<u8>, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid(format!("[support]: {why}"));
        if self.page.is_none() && self.contacts.is_empty() {
            return Err(invalid("give a page, contacts, or both".to_owned()));
        }
        let mut body = Map::new();
        if let Some(page) = &self.page {
            let uri: axum::http::Uri = page
                .parse()
                .map_err(|error| invalid(format!("page {page:?}: {error}")))?;
            if !matches!(uri.scheme_str(), Some("https" | "http")) || uri.host().is_none() {
                return Err(invalid(format!("page {page:?} is not an http(s) URL")));
            }
            body.insert("support_page".to_owned(), json!(page));
        }
        if !self.contacts.is_empty() {
            let contacts = self
                .contacts
                .iter()
                .map(Contact::entry)
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            body.insert("contacts".to_owned(), Value::Array(contacts));
        }
        serde_json::to_vec(&body).map_err(|error| invalid(error.to_string()))
    }
}

impl Contact {
    /// The contact as the answer lists it.
    fn entry(&self) -> Result<Value, String> {
        let role = self.role.trim();
        let namespaced = role.contains('.') && !role.contains(char::is_whitespace);
        if !namespaced {
            return Err(format!(
                "contact role {role:?} is not a role (m.role.admin, m.role.security, or namespaced)"
            ));
        }
        let mut entry = Map::new();
        entry.insert("role".to_owned(), json!(role));
        if let Some(id) = &self.matrix_id {
            ruma::UserId::parse(id.as_str())
                .map_err(|error| format!("contact matrix_id {id:?}: {error}"))?;
            entry.insert("matrix_id".to_owned(), json!(id));
        }
        if let Some(email) = &self.email {
            let (local, domain) = email.split_once('@').unwrap_or_default();
            if local.is_empty() || domain.is_empty() || email.contains(char::is_whitespace) {
                return Err(format!("contact email {email:?} is not an email address"));
            }
            entry.insert("email_address".to_owned(), json!(email));
        }
        if self.matrix_id.is_none() && self.email.is_none() {
            return Err(format!(
                "contact with role {role} has neither matrix_id nor email"
            ));
        }
        Ok(Value::Object(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn support(text: &str) -> Support {
        toml::from_str(text).expect("parses")
    }

    #[test]
    fn the_answer_lists_the_page_and_the_contacts() {
        let body = support(
            r#"
            page = "https://help.example.org/matrix"
            [[contacts]]
            role = "m.role.admin"
            matrix_id = "@admin:example.org"
            email = "admin@example.org"
            [[contacts]]
            role = "m.role.security"
            email = "security@example.org"
            "#,
        )
        .body()
        .expect("checks");
        let body: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(
            body,
            json!({
                "support_page": "https://help.example.org/matrix",
                "contacts": [
                    {"role": "m.role.admin", "matrix_id": "@admin:example.org", "email_address": "admin@example.org"},
                    {"role": "m.role.security", "email_address": "security@example.org"},
                ],
            })
        );
    }

    #[test]
    fn what_a_client_could_not_use_is_refused() {
        for (text, complaint) in [
            ("", "give a page, contacts, or both"),
            (r#"page = "help.example.org""#, "not an http(s) URL"),
            (
                "[[contacts]]\nrole = \"m.role.admin\"",
                "neither matrix_id nor email",
            ),
            (
                "[[contacts]]\nrole = \"admin\"\nemail = \"a@b\"",
                "is not a role",
            ),
            (
                "[[contacts]]\nrole = \"m.role.admin\"\nmatrix_id = \"admin\"",
                "contact matrix_id",
            ),
            (
                "[[contacts]]\nrole = \"m.role.admin\"\nemail = \"admin\"",
                "not an email address",
            ),
        ] {
            let error = support(text).body().expect_err(text).to_string();
            assert!(error.contains(complaint), "{text}: {error}");
        }
    }
}
