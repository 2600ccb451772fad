//! Typed Desk models. Typed yet lossless: every known field is optional (Zoho omits fields, and
//! `fields=` narrows them), and every unknown field lands in `extra` and is written back
//! unchanged, so a read-modify-write never drops what Zoho added after this client was written.
//! (A known field sent as `null` is written back as absent.)

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ids::{
    AccountId, AgentId, CommentId, ContactId, DepartmentId, OrganizationId, ThreadId, TicketId,
};
use crate::time::{Count, ZohoTime};

/// Unknown fields of a model, kept verbatim.
pub type Extra = Map<String, Value>;

macro_rules! model {
    ($(#[$meta:meta])* pub struct $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            $(
                $(#[$fmeta])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
            /// Fields this client does not know, kept and written back unchanged.
            #[serde(flatten)]
            pub extra: Extra,
        }
    };
}

model! {
    /// A Desk organization (portal).
    pub struct Organization {
        /// The id, sent as `orgId`.
        id: OrganizationId,
        /// Company name.
        company_name: String,
        /// Portal name.
        portal_name: String,
        /// Edition (`FREE`, `STANDARD`, `PROFESSIONAL`, `ENTERPRISE`, …).
        edition: String,
        /// Whether this is the user's default portal.
        is_default: bool,
    }
}

model! {
    /// A ticket.
    pub struct Ticket {
        /// The id.
        id: TicketId,
        /// The human-facing number (a string).
        ticket_number: String,
        /// Subject.
        subject: String,
        /// Description (HTML).
        description: String,
        /// Status (`Open`, `On Hold`, `Closed`, or a custom one).
        status: String,
        /// Status type: `Open`, `On Hold` or `Closed`.
        status_type: String,
        /// Priority.
        priority: String,
        /// Channel (`Email`, `Phone`, `Web`, `Chat`, …).
        channel: String,
        /// Contact's email.
        email: String,
        /// Contact's phone.
        phone: String,
        /// The contact.
        contact_id: ContactId,
        /// The department.
        department_id: DepartmentId,
        /// The assigned agent.
        assignee_id: AgentId,
        /// Created.
        created_time: ZohoTime,
        /// Last modified.
        modified_time: ZohoTime,
        /// Closed.
        closed_time: ZohoTime,
        /// Due.
        due_date: ZohoTime,
        /// Number of threads.
        thread_count: Count,
        /// Number of comments.
        comment_count: Count,
        /// Custom fields by display label.
        custom_fields: Map<String, Value>,
        /// Custom fields by API name (`cf_<apiName>`), the form used when writing.
        cf: Map<String, Value>,
        /// Link to the ticket in Desk.
        web_url: String,
    }
}

model! {
    /// A contact given inline when creating a ticket (`lastName` or `email` required).
    pub struct TicketContact {
        /// Last name.
        last_name: String,
        /// First name.
        first_name: String,
        /// Email.
        email: String,
        /// Phone.
        phone: String,
    }
}

model! {
    /// A ticket to create: `subject`, `departmentId`, and `contactId` or `contact` are required
    /// (checked before sending).
    pub struct NewTicket {
        /// Subject (required).
        subject: String,
        /// Department (required).
        department_id: DepartmentId,
        /// An existing contact…
        contact_id: ContactId,
        /// …or a new one.
        contact: TicketContact,
        /// Description.
        description: String,
        /// Status.
        status: String,
        /// Priority.
        priority: String,
        /// Channel.
        channel: String,
        /// Email.
        email: String,
        /// Phone.
        phone: String,
        /// Assignee.
        assignee_id: AgentId,
        /// Due date.
        due_date: ZohoTime,
        /// Custom fields, `cf_<apiName>` keys.
        cf: Map<String, Value>,
    }
}

model! {
    /// A partial ticket update (PATCH): only the fields set are sent.
    pub struct TicketUpdate {
        /// Subject.
        subject: String,
        /// Description.
        description: String,
        /// Status.
        status: String,
        /// Priority.
        priority: String,
        /// Channel.
        channel: String,
        /// Department.
        department_id: DepartmentId,
        /// Assignee.
        assignee_id: AgentId,
        /// Contact.
        contact_id: ContactId,
        /// Due date.
        due_date: ZohoTime,
        /// Custom fields, `cf_<apiName>` keys.
        cf: Map<String, Value>,
    }
}

model! {
    /// A conversation thread of a ticket (email, reply, chat transcript…).
    pub struct Thread {
        /// The id.
        id: ThreadId,
        /// Channel.
        channel: String,
        /// `in` or `out`.
        direction: String,
        /// Short summary.
        summary: String,
        /// Full content (only when fetched by id).
        content: String,
        /// Created.
        created_time: ZohoTime,
        /// Author details.
        author: Value,
    }
}

model! {
    /// A ticket comment.
    pub struct Comment {
        /// The id.
        id: CommentId,
        /// Content (HTML).
        content: String,
        /// Visible to the customer.
        is_public: bool,
        /// When.
        commented_time: ZohoTime,
        /// Who.
        commenter: Value,
    }
}

model! {
    /// A comment to add (`content` required).
    pub struct NewComment {
        /// Content (required).
        content: String,
        /// Visible to the customer (Zoho's default: false).
        is_public: bool,
        /// `plainText` or `html`.
        content_type: String,
    }
}

model! {
    /// An entry of a ticket's history.
    pub struct HistoryEvent {
        /// E.g. `TicketCreated`, `TicketUpdated`.
        event_name: String,
        /// When.
        event_time: ZohoTime,
        /// Who.
        actor: Value,
        /// What changed.
        event_info: Value,
    }
}

model! {
    /// A contact.
    pub struct Contact {
        /// The id.
        id: ContactId,
        /// First name.
        first_name: String,
        /// Last name.
        last_name: String,
        /// Email.
        email: String,
        /// Phone.
        phone: String,
        /// Mobile.
        mobile: String,
        /// The account (company).
        account_id: AccountId,
        /// The owning agent.
        owner_id: AgentId,
        /// Contact type.
        #[serde(rename = "type")]
        kind: String,
        /// Marked as spam.
        is_spam: bool,
        /// Created.
        created_time: ZohoTime,
        /// Custom fields by API name.
        cf: Map<String, Value>,
        /// Link in Desk.
        web_url: String,
    }
}

model! {
    /// A contact to create (`lastName` required).
    pub struct NewContact {
        /// Last name (required).
        last_name: String,
        /// First name.
        first_name: String,
        /// Email.
        email: String,
        /// Phone.
        phone: String,
        /// Mobile.
        mobile: String,
        /// Account.
        account_id: AccountId,
        /// Custom fields, `cf_<apiName>` keys.
        cf: Map<String, Value>,
    }
}

model! {
    /// A partial contact update (PATCH).
    pub struct ContactUpdate {
        /// First name.
        first_name: String,
        /// Last name.
        last_name: String,
        /// Email.
        email: String,
        /// Phone.
        phone: String,
        /// Mobile.
        mobile: String,
        /// Account.
        account_id: AccountId,
        /// Custom fields, `cf_<apiName>` keys.
        cf: Map<String, Value>,
    }
}

model! {
    /// An account (customer company).
    pub struct Account {
        /// The id.
        id: AccountId,
        /// Name.
        account_name: String,
        /// Email.
        email: String,
        /// Website.
        website: String,
        /// Phone.
        phone: String,
        /// Created.
        created_time: ZohoTime,
        /// Link in Desk.
        web_url: String,
    }
}

model! {
    /// An agent.
    pub struct Agent {
        /// The id.
        id: AgentId,
        /// First name.
        first_name: String,
        /// Last name.
        last_name: String,
        /// Display name.
        name: String,
        /// Email.
        email_id: String,
        /// `ACTIVE`, `DISABLED`, …
        status: String,
        /// Departments the agent belongs to.
        associated_department_ids: Vec<DepartmentId>,
    }
}

model! {
    /// A department.
    pub struct Department {
        /// The id.
        id: DepartmentId,
        /// Name.
        name: String,
        /// Description.
        description: String,
        /// Enabled.
        is_enabled: bool,
    }
}

impl NewTicket {
    /// A ticket for an existing contact.
    pub fn for_contact(
        subject: impl Into<String>,
        department_id: DepartmentId,
        contact_id: ContactId,
    ) -> Self {
        NewTicket {
            subject: Some(subject.into()),
            department_id: Some(department_id),
            contact_id: Some(contact_id),
            ..NewTicket::default()
        }
    }

    /// Zoho's create rules, checked before anything is sent.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err("a ticket needs a subject".into());
        }
        if self.department_id.is_none() {
            return Err("a ticket needs a departmentId".into());
        }
        let contact_ok = self.contact_id.is_some()
            || self
                .contact
                .as_ref()
                .is_some_and(|c| c.last_name.is_some() || c.email.is_some());
        if !contact_ok {
            return Err("a ticket needs a contactId or a contact with lastName or email".into());
        }
        Ok(())
    }
}

impl NewContact {
    pub(crate) fn check(&self) -> Result<(), String> {
        if self
            .last_name
            .as_deref()
            .is_none_or(|s| s.trim().is_empty())
        {
            return Err("a contact needs a lastName".into());
        }
        Ok(())
    }
}

impl NewComment {
    /// A comment with this content.
    pub fn new(content: impl Into<String>) -> Self {
        NewComment {
            content: Some(content.into()),
            ..NewComment::default()
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        if self.content.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return Err("a comment needs content".into());
        }
        Ok(())
    }
}
