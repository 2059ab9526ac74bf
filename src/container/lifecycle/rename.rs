//! `rename`.

use crate::container::index::{ContainerError, Index, find_index};
use crate::container::record::is_valid_name;
use crate::store::Store;

/// Renames a container. Takes the containers lock, exclusive.
pub fn rename(store: &Store, input: &str, new_name: &str) -> Result<(), ContainerError> {
    let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
    if !is_valid_name(new_name) {
        return Err(ContainerError::InvalidName(new_name.to_owned()));
    }
    let _lock = store.lock_containers_exclusive()?;
    let mut index: Index = store.containers()?;
    let i = find_index(&index, input)?;
    if index.containers[i].name == new_name {
        return Err(ContainerError::AlreadyNamed { input: input.to_owned(), name: new_name.to_owned() });
    }
    if let Some(other) = index.containers.iter().find(|c| c.name == new_name) {
        return Err(ContainerError::NameInUse { name: new_name.to_owned(), id: other.id.clone() });
    }
    let old_name = std::mem::replace(&mut index.containers[i].name, new_name.to_owned());
    store.write_containers(&index)?;
    crate::container::event::record_with(store, "rename", &index.containers[i], "oldName", &old_name);
    Ok(())
}
