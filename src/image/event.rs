//! Image events for the journal (`crate::events`): the actor is the reference for a pull or
//! push (as Docker's), the image id otherwise; `name` is the familiar reference.

use crate::events::{self, Event};
use crate::store::Store;

use super::registry::reference::familiar_name;

/// Records `action` about the image named `reference` (pull, push).
pub fn record(store: &Store, action: &str, reference: &str) {
    let name = familiar_name(reference);
    events::record(store, Event::image(action, name, name));
}

/// Records `action` about image `id`, named `name` if it has a name.
pub fn record_id(store: &Store, action: &str, id: &str, name: Option<&str>) {
    events::record(store, Event::image(action, id, name.map_or(id, familiar_name)));
}
