//! Asks the authoritative nameservers of each name on the certificate for its addresses, the
//! way the CA will see them once caches expire: the zone's NS records are found by walking up
//! the labels through the system's resolver, then each nameserver is asked directly, without
//! recursion. Messages are hickory-proto's; the transport is one UDP socket per question.

use super::readiness::{Address, Answer, Finding};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long one question may take before it is asked once more, then given up.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Where the answers come from.
#[derive(Debug, Clone)]
pub enum Nameservers {
    /// The zone's own nameservers, found through the system's resolver (production).
    Authoritative,
    /// This server for every name, without discovery: for tests, which run a DNS server on
    /// loopback.
    Fixed(SocketAddr),
}

impl Nameservers {
    /// One finding per name and nameserver.
    pub async fn ask(&self, names: &[String]) -> Vec<Finding> {
        let mut findings = Vec::new();
        for name in names {
            let servers = match self {
                Nameservers::Fixed(addr) => Ok(vec![(addr.to_string(), *addr)]),
                Nameservers::Authoritative => authoritative(name).await,
            };
            match servers {
                Ok(servers) => {
                    for (server, addr) in servers {
                        let answer = addresses(addr, name).await;
                        findings.push(Finding {
                            name: name.clone(),
                            server,
                            answer,
                        });
                    }
                }
                Err(why) => findings.push(Finding {
                    name: name.clone(),
                    server: "this machine's resolver".to_owned(),
                    answer: Answer::Failed(why),
                }),
            }
        }
        findings
    }
}

/// Whether `ip` is assigned to an interface of this machine: only then can a socket be bound
/// to it.
pub fn is_local(ip: IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast() && std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// What `server` answers, without recursion, for the A and AAAA records of `name`.
async fn addresses(server: SocketAddr, name: &str) -> Answer {
    let qname = match fqdn(name) {
        Ok(n) => n,
        Err(why) => return Answer::Failed(why),
    };
    let mut found = Vec::new();
    let mut alias = None;
    for rtype in [RecordType::A, RecordType::AAAA] {
        let reply = match ask(server, &qname, rtype, false).await {
            Ok(r) => r,
            Err(why) => return Answer::Failed(why),
        };
        match reply.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return Answer::NoRecord,
            other => return Answer::Failed(format!("{server} answered {other}")),
        }
        for record in reply.answers {
            match record.data {
                RData::A(a) => found.push(IpAddr::V4(a.0)),
                RData::AAAA(a) => found.push(IpAddr::V6(a.0)),
                RData::CNAME(target) => alias = Some(target.0.to_string()),
                _ => {}
            }
        }
    }
    if !found.is_empty() {
        let addrs = found
            .into_iter()
            .map(|ip| Address {
                ip,
                local: is_local(ip),
            })
            .collect();
        return Answer::Addresses(addrs);
    }
    alias.map_or(Answer::NoRecord, Answer::Alias)
}

/// The nameservers of the zone holding `name`, each with the address to ask it at: the
/// longest suffix of `name` that has NS records, as the system's resolver reports them.
async fn authoritative(name: &str) -> Result<Vec<(String, SocketAddr)>, String> {
    let resolver = system_resolver().await?;
    let full = fqdn(name)?;
    // Down to the registered domain: a top-level domain is never the zone we want.
    for labels in (2..=full.num_labels()).rev() {
        let zone = full.trim_to(usize::from(labels));
        let reply = ask(resolver, &zone, RecordType::NS, true).await?;
        let code = reply.metadata.response_code;
        if !matches!(code, ResponseCode::NoError | ResponseCode::NXDomain) {
            return Err(format!(
                "the resolver {resolver} answered {code} when asked for the nameservers of {zone}"
            ));
        }
        let hosts: Vec<String> = reply
            .answers
            .iter()
            .filter(|r| r.name == zone)
            .filter_map(|r| match &r.data {
                RData::NS(ns) => Some(ns.0.to_string()),
                _ => None,
            })
            .collect();
        if hosts.is_empty() {
            continue;
        }
        let mut servers = Vec::new();
        for host in hosts {
            let shown = host.trim_end_matches('.').to_owned();
            // IPv4 first: many servers have no IPv6 route.
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 53))
                .await
                .map(|a| a.collect())
                .unwrap_or_default();
            if let Some(addr) = found.iter().find(|a| a.is_ipv4()).or_else(|| found.first()) {
                servers.push((shown, *addr));
            }
        }
        if servers.is_empty() {
            return Err(format!("the nameservers of {zone} have no address"));
        }
        return Ok(servers);
    }
    Err(format!("no zone with nameservers holds {name}"))
}

/// The first nameserver in /etc/resolv.conf, which is how this machine resolves names.
async fn system_resolver() -> Result<SocketAddr, String> {
    let conf = tokio::fs::read_to_string("/etc/resolv.conf")
        .await
        .map_err(|e| format!("cannot read /etc/resolv.conf: {e}"))?;
    first_nameserver(&conf)
        .map(|ip| SocketAddr::new(ip, 53))
        .ok_or_else(|| "/etc/resolv.conf names no nameserver".to_owned())
}

/// The first `nameserver` line's address in a resolv.conf.
fn first_nameserver(conf: &str) -> Option<IpAddr> {
    conf.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .find_map(|rest| rest.trim().parse::<IpAddr>().ok())
}

fn fqdn(name: &str) -> Result<Name, String> {
    let mut n = Name::from_ascii(name).map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
    n.set_fqdn(true);
    Ok(n)
}

/// One question to `server`, asked twice at most.
async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    recursion: bool,
) -> Result<Message, String> {
    let mut query = Message::query();
    query.metadata.recursion_desired = recursion;
    query.add_query(hickory_proto::op::Query::query(name.clone(), rtype));
    let bytes = query
        .to_vec()
        .map_err(|e| format!("cannot encode a question for {name}: {e}"))?;
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = tokio::net::UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .connect(server)
        .await
        .map_err(|e| format!("cannot reach {server}: {e}"))?;
    for _ in 0..2 {
        socket
            .send(&bytes)
            .await
            .map_err(|e| format!("cannot send to {server}: {e}"))?;
        if let Ok(reply) = tokio::time::timeout(TIMEOUT, reply_to(&socket, query.metadata.id)).await
        {
            return reply.map_err(|e| format!("{server}: {e}"));
        }
    }
    Err(format!("{server} did not answer"))
}

/// The next message on `socket` that answers question `id`; anything else is dropped.
async fn reply_to(socket: &tokio::net::UdpSocket, id: u16) -> std::io::Result<Message> {
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await?;
        if let Ok(m) = Message::from_vec(&buf[..n])
            && m.metadata.id == id
            && m.metadata.message_type == MessageType::Response
        {
            return Ok(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local_and_a_documentation_address_is_not() {
        assert!(is_local(IpAddr::from([127, 0, 0, 1])));
        assert!(!is_local(IpAddr::from([203, 0, 113, 9])));
        assert!(!is_local(IpAddr::from([0, 0, 0, 0])));
    }

    #[test]
    fn the_first_usable_nameserver_line_is_the_resolver() {
        let conf = "# generated\nsearch example.com\nnameserver fe80::1%eth0\nnameserver  192.0.2.53\nnameserver 192.0.2.54\n";
        assert_eq!(first_nameserver(conf), Some(IpAddr::from([192, 0, 2, 53])));
        assert_eq!(first_nameserver("search example.com\n"), None);
    }
}
