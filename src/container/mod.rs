//! Containers: records, lifecycle, supervisor.
