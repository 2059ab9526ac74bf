//! Networks as `docker network inspect` and `docker network ls --format` show them.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::record::{DEFAULT_NETWORK, Driver, NetworkRecord};
use super::state::{Endpoint, NetworkState};

/// Docker's EndpointID: 64 hex digits, the same for the same container on the same network.
fn endpoint_id(network_id: &str, container_id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("endpoint/{network_id}/{container_id}").as_bytes()))
}

fn with_prefix(record: &NetworkRecord, endpoint: &Endpoint, v4: bool) -> String {
    endpoint
        .addresses
        .iter()
        .find(|a| a.is_ipv4() == v4)
        .map(|a| {
            let prefix = record.subnets.iter().find(|s| s.subnet.contains(*a)).map_or(0, |s| s.subnet.prefix());
            format!("{a}/{prefix}")
        })
        .unwrap_or_default()
}

/// The options inspect shows: those given, and the bridge's name.
fn options(record: &NetworkRecord) -> BTreeMap<String, String> {
    let mut options = record.options.clone();
    if record.driver == Driver::Bridge {
        options.insert("com.docker.network.bridge.name".into(), record.bridge.clone());
        if record.name == DEFAULT_NETWORK {
            options.insert("com.docker.network.bridge.default_bridge".into(), "true".into());
        }
        if let Some(mtu) = record.mtu {
            options.insert("com.docker.network.driver.mtu".into(), mtu.to_string());
        }
    }
    options
}

/// One network as `network inspect` prints it (Docker's shape), with the containers attached
/// now.
pub fn inspect_json(record: &NetworkRecord, state: &NetworkState) -> Value {
    let config: Vec<Value> = record
        .subnets
        .iter()
        .map(|s| {
            let mut c = json!({ "Subnet": s.subnet.to_string(), "Gateway": s.gateway.to_string() });
            if let Some(range) = s.ip_range {
                c["IPRange"] = json!(range.to_string());
            }
            c
        })
        .collect();
    let containers: serde_json::Map<String, Value> = state
        .endpoints
        .values()
        .map(|e| {
            (
                e.container_id.clone(),
                json!({
                    "Name": e.container_name,
                    "EndpointID": endpoint_id(&record.id, &e.container_id),
                    "MacAddress": e.mac,
                    "IPv4Address": with_prefix(record, e, true),
                    "IPv6Address": with_prefix(record, e, false),
                }),
            )
        })
        .collect();
    json!({
        "Name": record.name,
        "Id": record.id,
        "Created": record.created,
        "Scope": "local",
        "Driver": record.driver.as_str(),
        "EnableIPv4": record.ipv4_subnet().is_some(),
        "EnableIPv6": record.ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": {},
            "Config": config,
        },
        "Internal": record.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options(record),
        "Labels": record.labels,
    })
}

/// "2024-01-02 03:04:05.123456789 +0000 UTC", as Docker prints CreatedAt.
fn created_at(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S%.9f +0000 UTC").to_string())
        .unwrap_or_else(|_| rfc3339.to_owned())
}

/// One network as `network ls --format` sees it.
pub fn ls_row(record: &NetworkRecord, truncate: bool) -> Value {
    let labels: Vec<String> = record.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "ID": if truncate { record.short_id() } else { record.id.as_str() },
        "Name": record.name,
        "Driver": record.driver.as_str(),
        "Scope": "local",
        "IPv4": record.ipv4_subnet().is_some().to_string(),
        "IPv6": record.ipv6.to_string(),
        "Internal": record.internal.to_string(),
        "Labels": labels.join(","),
        "CreatedAt": created_at(&record.created),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::record::SubnetConfig;
    use crate::network::subnet::Subnet;

    fn record() -> NetworkRecord {
        NetworkRecord {
            name: "front".into(),
            id: "f".repeat(64),
            created: "2026-01-02T03:04:05.123456789Z".into(),
            driver: Driver::Bridge,
            bridge: "berth1".into(),
            subnets: vec![SubnetConfig {
                subnet: Subnet::parse("10.78.0.0/24").unwrap(),
                gateway: "10.78.0.1".parse().unwrap(),
                ip_range: Some(Subnet::parse("10.78.0.128/25").unwrap()),
            }],
            user_subnets: true,
            ipv6: false,
            internal: true,
            dns: true,
            mtu: Some(1400),
            labels: [("team".to_owned(), "a".to_owned())].into(),
            options: [("mtu".to_owned(), "1400".to_owned())].into(),
        }
    }

    #[test]
    fn inspect_has_dockers_shape() {
        let mut state = NetworkState::default();
        let e = crate::network::dns::names::tests::endpoint(&"c".repeat(64), "web", &[], &["10.78.0.130"]);
        state.endpoints.insert(e.container_id.clone(), e);
        let v = inspect_json(&record(), &state);
        assert_eq!(v["Name"], "front");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["Internal"], true);
        assert_eq!(
            v["IPAM"]["Config"][0],
            json!({"Subnet": "10.78.0.0/24", "Gateway": "10.78.0.1", "IPRange": "10.78.0.128/25"})
        );
        let c = &v["Containers"][&"c".repeat(64)];
        assert_eq!(c["Name"], "web");
        assert_eq!(c["IPv4Address"], "10.78.0.130/24");
        assert_eq!(c["IPv6Address"], "");
        assert_eq!(c["EndpointID"].as_str().unwrap().len(), 64);
        assert_eq!(v["Options"]["com.docker.network.bridge.name"], "berth1");
        assert_eq!(v["Options"]["com.docker.network.driver.mtu"], "1400");
        assert_eq!(v["Labels"]["team"], "a");
    }

    #[test]
    fn ls_rows() {
        let row = ls_row(&record(), true);
        assert_eq!(row["ID"], "ffffffffffff");
        assert_eq!(row["CreatedAt"], "2026-01-02 03:04:05.123456789 +0000 UTC");
        assert_eq!(row["Labels"], "team=a");
        assert_eq!(ls_row(&record(), false)["ID"].as_str().unwrap().len(), 64);
    }
}
