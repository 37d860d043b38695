//! Queue allocation among the members of a consumer group (spec §10.2).

use remoting::body::client::MessageQueue;

/// Java `AllocateMessageQueueAveragely`: with `n` queues and `c` members, the member at index
/// `i` of the sorted member list gets a contiguous block of the sorted queue list; the first
/// `n % c` members get one more. Returns nothing when `current` is not a member.
///
/// Both lists are sorted here (queues by topic, broker name, queue id; members as strings) so
/// every member computes the same split from the same inputs.
pub fn allocate_averagely(
    current: &str,
    queues: &[MessageQueue],
    members: &[String],
) -> Vec<MessageQueue> {
    let mut queues = queues.to_vec();
    queues.sort();
    queues.dedup();
    let mut members = members.to_vec();
    members.sort();
    members.dedup();
    let (n, c) = (queues.len(), members.len());
    let Some(i) = members.iter().position(|m| m == current) else {
        return Vec::new();
    };
    if n == 0 {
        return Vec::new();
    }
    let modulo = n % c;
    let size = if n <= c {
        1
    } else if i < modulo {
        n / c + 1
    } else {
        n / c
    };
    let start = if i < modulo {
        i * size
    } else {
        i * size + modulo
    };
    let take = size.min(n.saturating_sub(start));
    queues.into_iter().skip(start).take(take).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqs(n: i32) -> Vec<MessageQueue> {
        (0..n).map(|i| MessageQueue::new("T", "b", i)).collect()
    }

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn every_queue_exactly_once() {
        for n in 0..20 {
            for c in 1..8 {
                let q = mqs(n);
                let m = ids(c);
                let mut all: Vec<MessageQueue> = m
                    .iter()
                    .flat_map(|id| allocate_averagely(id, &q, &m))
                    .collect();
                all.sort();
                if n as usize >= c {
                    assert_eq!(all, q, "n={n} c={c}");
                } else {
                    // More members than queues: the first n members get one each.
                    assert_eq!(all.len(), n as usize, "n={n} c={c}");
                }
            }
        }
    }

    #[test]
    fn javas_split() {
        // 8 queues, 3 members: 3, 3, 2.
        let q = mqs(8);
        let m = ids(3);
        let ids0: Vec<i32> = allocate_averagely("c0", &q, &m)
            .iter()
            .map(|q| q.queue_id)
            .collect();
        let ids2: Vec<i32> = allocate_averagely("c2", &q, &m)
            .iter()
            .map(|q| q.queue_id)
            .collect();
        assert_eq!(ids0, vec![0, 1, 2]);
        assert_eq!(ids2, vec![6, 7]);
        assert!(allocate_averagely("stranger", &q, &m).is_empty());
        // Order of the inputs does not matter.
        let mut rq = q.clone();
        rq.reverse();
        let mut rm = m.clone();
        rm.reverse();
        assert_eq!(
            allocate_averagely("c1", &rq, &rm),
            allocate_averagely("c1", &q, &m)
        );
    }

    #[test]
    fn member_leaves_remaining_takes_all() {
        let q = mqs(8);
        let both = ids(2);
        assert_eq!(allocate_averagely("c1", &q, &both).len(), 4);
        assert_eq!(allocate_averagely("c1", &q, &["c1".to_string()]), q);
    }
}
