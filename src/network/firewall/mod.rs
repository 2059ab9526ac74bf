//! berth's firewall: its own nftables table on the host (`rules`), the DNS redirect inside a
//! container (`dns`), and running `nft` (`nft`).

// The DNS redirect is applied by the container's supervisor (see ARCHITECTURE.md).
#[cfg_attr(not(test), allow(dead_code))]
pub mod dns;
pub mod nft;
pub mod plan;
pub mod rules;

pub use nft::NftError;
pub use rules::{Change, RuleError};

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;
    use crate::network::test_support::require_root_and_nft;
    use crate::sandbox::netns::{in_netns, in_new_netns};

    /// berth's table, as the attach path asks for it (netlink, no `nft`).
    fn table_exists() -> bool {
        use crate::network::kernel::{HostKernel, Kernel};
        HostKernel::default().firewall_present().unwrap()
    }

    #[test]
    fn the_rules_apply_read_back_and_go_in_a_test_namespace() {
        if !require_root_and_nft("applying nftables rules in a private network namespace") {
            return;
        }
        let ns = in_new_netns(|ns| ns).unwrap();
        assert!(!in_netns(ns.as_fd(), table_exists).unwrap(), "a new namespace has no table");
        let ruleset = rules::tests::sample();
        let run = |change: &Change| {
            let text = rules::script(&ruleset, change);
            nft::apply_in(ns.as_fd(), &text, "applying berth's rules").unwrap();
            in_netns(ns.as_fd(), || nft::list_table(rules::TABLE).unwrap()).unwrap()
        };
        let web = "0123456789ab".to_owned();
        let listed = run(&Change { fill: vec![web.clone()], ..Change::default() });
        for want in [
            "chain ctr-0123456789ab",
            "tcp dport 8080 dnat ip to 10.77.0.2:80",
            "dnat ip6 to [fd00:77::2]:80",
            "ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.77.0.2:53",
            "jump ctr-0123456789ab",
            "ip saddr 10.77.0.0/16 oifname != \"berth0\" masquerade",
            "iifname \"berth1\" oifname != \"berth1\" drop",
            "fib daddr type local jump publish",
        ] {
            assert!(listed.contains(want), "missing {want:?} in:\n{listed}");
        }
        // The same change again changes nothing (no duplicated rules).
        assert_eq!(run(&Change { fill: vec![web.clone()], ..Change::default() }), listed);

        // One container's rules go; the other's stay.
        let mut after = ruleset.clone();
        let listed = {
            let text = rules::script(&after, &Change { remove: vec![web.clone()], ..Change::default() });
            nft::apply_in(ns.as_fd(), &text, "removing").unwrap();
            in_netns(ns.as_fd(), || nft::list_table(rules::TABLE).unwrap()).unwrap()
        };
        assert!(!listed.contains("ctr-0123456789ab"), "{listed}");
        assert!(listed.contains("jump ctr-ba9876543210"), "{listed}");
        after.containers.retain(|c| c.id != web);

        // Removing what is gone already still applies.
        let text = rules::script(&after, &Change { remove: vec![web.clone()], ..Change::default() });
        nft::apply_in(ns.as_fd(), &text, "removing again").unwrap();

        // After a flush of the whole ruleset, a reload brings everything back.
        in_netns(ns.as_fd(), || {
            std::process::Command::new(nft::find_nft().unwrap()).args(["flush", "ruleset"]).status().unwrap()
        })
        .unwrap();
        assert!(in_netns(ns.as_fd(), || nft::list_table(rules::TABLE)).unwrap().is_err());
        assert!(!in_netns(ns.as_fd(), table_exists).unwrap(), "the netlink query sees it gone too");
        let listed = run(&Change { recreate: true, ..Change::default() });
        assert!(listed.contains("dnat ip to 10.77.0.2:80"), "{listed}");
        assert!(in_netns(ns.as_fd(), table_exists).unwrap());

        // Bad input is refused as a whole: nothing of the failed script is applied.
        let before = in_netns(ns.as_fd(), || nft::list_table(rules::TABLE).unwrap()).unwrap();
        let err = nft::apply_in(ns.as_fd(), "add table inet berth\nadd rule inet berth nowhere drop\n", "a bad change")
            .unwrap_err();
        assert!(err.to_string().starts_with("a bad change: nft: "), "{err}");
        assert!(err.to_string().contains("(in: add rule inet berth nowhere drop)"), "{err}");
        assert_eq!(in_netns(ns.as_fd(), || nft::list_table(rules::TABLE).unwrap()).unwrap(), before);

        // The DNS redirect in a container's namespace.
        nft::apply_in(ns.as_fd(), &dns::dns_nat_script(40001, 40002), "dns").unwrap();
        let listed = in_netns(ns.as_fd(), || nft::list_table(dns::DNS_TABLE).unwrap()).unwrap();
        assert!(listed.contains("udp dport 53 dnat to 127.0.0.11:40001"), "{listed}");
    }
}
