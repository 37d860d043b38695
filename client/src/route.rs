//! Topic routes turned into queue lists (spec §8.3): the writable queues a producer chooses from
//! and the readable queues consumers share.

use remoting::body::client::MessageQueue;
use remoting::body::route::TopicRouteData;
use remoting::body::topic::perm;

/// The producer's view of a topic (Java `TopicPublishInfo`).
#[derive(Debug, Clone, Default)]
pub struct PublishInfo {
    /// Writable queues of brokers that have a master, sorted by broker name then queue id.
    pub queues: Vec<MessageQueue>,
    /// True when the name server returned an `orderTopicConf`.
    pub order_topic: bool,
}

impl PublishInfo {
    /// Builds the queue list of `topic` from its route. With an `orderTopicConf`
    /// (`brokerName:queueNums;...`) only those brokers and counts are used, as in Java.
    pub fn from_route(topic: &str, route: &TopicRouteData) -> Self {
        let mut queues = Vec::new();
        if let Some(conf) = route.order_topic_conf.as_deref().filter(|c| !c.is_empty()) {
            for item in conf.split(';') {
                let Some((name, n)) = item.split_once(':') else {
                    continue;
                };
                let Ok(n) = n.trim().parse::<i32>() else {
                    continue;
                };
                for q in 0..n {
                    queues.push(MessageQueue::new(topic, name.trim(), q));
                }
            }
            return PublishInfo {
                queues,
                order_topic: true,
            };
        }
        let mut qds = route.queue_datas.clone();
        qds.sort_by(|a, b| a.broker_name.cmp(&b.broker_name));
        for qd in qds {
            if !perm::is_writeable(qd.perm) {
                continue;
            }
            let has_master = route
                .broker_datas
                .iter()
                .any(|b| b.broker_name == qd.broker_name && b.master_addr().is_some());
            if !has_master {
                continue;
            }
            for q in 0..qd.write_queue_nums.max(0) {
                queues.push(MessageQueue::new(topic, qd.broker_name.clone(), q));
            }
        }
        PublishInfo {
            queues,
            order_topic: false,
        }
    }

    /// Like [`from_route`](Self::from_route) for a route borrowed from the auto-create template
    /// topic (`TBW102`): each broker offers `min(default_queue_nums, readQueueNums)` queues.
    pub fn from_template_route(
        topic: &str,
        route: &TopicRouteData,
        default_queue_nums: i32,
    ) -> Self {
        let mut r = route.clone();
        for qd in &mut r.queue_datas {
            let n = default_queue_nums.min(qd.read_queue_nums);
            qd.read_queue_nums = n;
            qd.write_queue_nums = n;
        }
        Self::from_route(topic, &r)
    }

    /// True when there is no queue to send to.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }
}

/// The readable queues of a topic that consumers share (Java `topicRouteData2TopicSubscribeInfo`).
pub fn subscribe_queues(topic: &str, route: &TopicRouteData) -> Vec<MessageQueue> {
    let mut out = Vec::new();
    for qd in &route.queue_datas {
        if !perm::is_readable(qd.perm) {
            continue;
        }
        for q in 0..qd.read_queue_nums.max(0) {
            out.push(MessageQueue::new(topic, qd.broker_name.clone(), q));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use remoting::body::route::{BrokerData, QueueData};

    fn route() -> TopicRouteData {
        let mut a = BrokerData::new("C", "broker-a");
        a.broker_addrs.insert(0, "127.0.0.1:1".into());
        let mut b = BrokerData::new("C", "broker-b");
        b.broker_addrs.insert(1, "127.0.0.1:2".into()); // slave only
        let mut c = BrokerData::new("C", "broker-c");
        c.broker_addrs.insert(0, "127.0.0.1:3".into());
        TopicRouteData {
            queue_datas: vec![
                QueueData {
                    broker_name: "broker-c".into(),
                    read_queue_nums: 2,
                    write_queue_nums: 2,
                    perm: perm::READ, // read only
                    topic_sys_flag: 0,
                },
                QueueData {
                    broker_name: "broker-a".into(),
                    read_queue_nums: 4,
                    write_queue_nums: 3,
                    perm: perm::READ_WRITE,
                    topic_sys_flag: 0,
                },
                QueueData {
                    broker_name: "broker-b".into(),
                    read_queue_nums: 2,
                    write_queue_nums: 2,
                    perm: perm::READ_WRITE,
                    topic_sys_flag: 0,
                },
            ],
            broker_datas: vec![a, b, c],
            ..Default::default()
        }
    }

    #[test]
    fn publish_skips_read_only_and_masterless() {
        let p = PublishInfo::from_route("T", &route());
        assert_eq!(p.queues.len(), 3);
        assert!(p.queues.iter().all(|q| q.broker_name == "broker-a"));
        let t = PublishInfo::from_template_route("T", &route(), 2);
        assert_eq!(t.queues.len(), 2);
    }

    #[test]
    fn order_conf_wins() {
        let mut r = route();
        r.order_topic_conf = Some("broker-a:2;broker-c:1;junk".into());
        let p = PublishInfo::from_route("T", &r);
        assert!(p.order_topic);
        assert_eq!(p.queues.len(), 3);
    }

    #[test]
    fn subscribe_uses_read_queues() {
        let s = subscribe_queues("T", &route());
        assert_eq!(s.len(), 8);
        assert_eq!(s[0], MessageQueue::new("T", "broker-a", 0));
    }
}
