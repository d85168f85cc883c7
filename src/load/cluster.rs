//! The load tool's cluster target: several `voipchat-server` processes joined to one Redis,
//! and every room placed as a game backend places it, so a run shows how rooms spread and
//! what the nodes cost together.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::quic::Relay;
use super::spawn_server;
use crate::cluster::{self, Directory};

pub struct SpawnedCluster {
    redis_url: String,
    /// (node id, process, what its members connect to), in start order.
    nodes: Vec<(String, Child, Arc<Relay>)>,
}

impl SpawnedCluster {
    /// Starts `count` nodes; each has registered in Redis when this returns (a node prints
    /// its address only after its first heartbeat).
    pub fn start(
        binary: &Path,
        redis_url: &str,
        count: usize,
        (app_id, app_secret): (&str, &str),
        max_members: usize,
    ) -> Result<SpawnedCluster, String> {
        // Ids unique to this run, so a node left over from an earlier run on the same Redis
        // is never mistaken for one of ours.
        let run = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let mut cluster = SpawnedCluster {
            redis_url: redis_url.to_string(),
            nodes: Vec::with_capacity(count),
        };
        for i in 0..count.max(1) {
            let node_id = format!("load-{run}-{i}");
            let extra = [
                "--redis".to_string(),
                redis_url.to_string(),
                "--node-id".to_string(),
                node_id.clone(),
            ];
            let (child, addr, cert) = spawn_server(binary, app_id, app_secret, max_members, &extra)
                .map_err(|e| format!("node {node_id}: {e}"))?;
            let relay = Relay::new(
                addr,
                "localhost".into(),
                cert,
                app_id.to_string(),
                app_secret.to_string(),
            )?;
            cluster.nodes.push((node_id, child, Arc::new(relay)));
        }
        Ok(cluster)
    }

    pub fn first_node(&self) -> Arc<Relay> {
        self.nodes[0].2.clone()
    }

    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(|(_, child, _)| child.id()).collect()
    }

    /// Places each room (`voipchat::cluster::place`, as a backend does) and answers the relay
    /// its members join. A room placed on a node that is not this run's is an error: the
    /// Redis is shared with another cluster, and the run would measure that one too.
    pub async fn place(&self, app_id: &str, groups: &[String]) -> Result<Vec<Arc<Relay>>, String> {
        let directory = Directory::connect(&self.redis_url)
            .await
            .map_err(|e| e.to_string())?;
        let by_id: HashMap<&str, &Arc<Relay>> = self
            .nodes
            .iter()
            .map(|(id, _, relay)| (id.as_str(), relay))
            .collect();
        let mut relays = Vec::with_capacity(groups.len());
        for group in groups {
            let placement = cluster::place(&directory, app_id, group)
                .await
                .map_err(|e| format!("placing {group}: {e}"))?;
            let relay = by_id.get(placement.node_id.as_str()).ok_or_else(|| {
                format!(
                    "{group} was placed on node {:?}, which this run did not start: give the \
                     load tool a Redis of its own",
                    placement.node_id
                )
            })?;
            relays.push((*relay).clone());
        }
        Ok(relays)
    }

    /// Stops the nodes with SIGTERM, which an empty node answers by leaving the directory and
    /// exiting (so the next run's placements do not see them); kills any that linger.
    pub fn stop(&mut self) {
        for (_, child, _) in &self.nodes {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for (_, child, _) in &mut self.nodes {
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.nodes.clear();
    }
}

impl Drop for SpawnedCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
