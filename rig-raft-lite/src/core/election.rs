//! Leader election: randomized timeouts, pre-vote, votes, check-quorum and leadership transfer.

use super::state::{HardState, Message, NodeId, Output, RoleKind};
use super::Raft;

impl Raft {
    pub(super) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let min = self.cfg.election_ticks.max(1);
        self.randomized_timeout = min + self.rand.below(u64::from(min)) as u32;
    }

    /// Whether a leader was heard from within the minimum election timeout (check-quorum's
    /// lease: vote requests are ignored meanwhile, so a flaky node cannot depose a healthy leader).
    pub(super) fn in_lease(&self) -> bool {
        let heard = self.leader.is_some() && self.leader != Some(self.cfg.id);
        self.cfg.check_quorum
            && (heard || self.quiet_after_boot)
            && self.election_elapsed < self.cfg.election_ticks
    }

    pub(super) fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.election_elapsed >= self.cfg.election_ticks {
            self.quiet_after_boot = false;
        }
        // Observers and removed members never campaign.
        if self.election_elapsed >= self.randomized_timeout && self.is_voter() {
            if self.cfg.pre_vote {
                self.campaign_pre_vote();
            } else {
                self.campaign();
            }
        }
    }

    fn campaign_pre_vote(&mut self) {
        self.reset_election_timer();
        self.role = RoleKind::PreCandidate;
        self.set_leader(None);
        // Campaigning ends this node's following: a partial frame is never completed.
        self.stream.reset();
        self.votes.clear();
        self.votes.insert(self.cfg.id, true);
        if self.won(true) {
            return self.campaign();
        }
        let (term, last_index, last_term) = (
            self.hs.term + 1,
            self.log.last_index(),
            self.log.last_term(),
        );
        for p in self.voting_peers() {
            self.send(
                p,
                Message::PreVote {
                    term,
                    last_index,
                    last_term,
                },
            );
        }
    }

    /// Starts an election in the next term (persisting the term and the self-vote first).
    pub(super) fn campaign_with(&mut self, force: bool) {
        self.reset_election_timer();
        self.role = RoleKind::Candidate;
        self.hs = HardState {
            term: self.hs.term + 1,
            vote: Some(self.cfg.id),
        };
        self.persist_hard_state();
        self.matched_leader = 0;
        self.stream.reset();
        self.leader = None;
        self.out.push(Output::LeaderChanged {
            term: self.hs.term,
            leader: None,
        });
        self.votes.clear();
        self.votes.insert(self.cfg.id, true);
        if self.won(true) {
            return self.become_leader();
        }
        let (term, last_index, last_term) =
            (self.hs.term, self.log.last_index(), self.log.last_term());
        for p in self.voting_peers() {
            self.send(
                p,
                Message::Vote {
                    term,
                    last_index,
                    last_term,
                    force,
                },
            );
        }
    }

    fn campaign(&mut self) {
        self.campaign_with(false);
    }

    /// Whether a majority granted (`granted`) or a majority refused (`!granted`) the votes.
    fn won(&self, granted: bool) -> bool {
        let members = self.membership();
        self.votes
            .iter()
            .filter(|&(id, &g)| g == granted && members.is_voter(*id))
            .count()
            >= members.quorum()
    }

    pub(super) fn on_pre_vote(&mut self, from: NodeId, term: u64, last_index: u64, last_term: u64) {
        let granted = term > self.hs.term
            && !self.in_lease()
            && self.log.is_up_to_date(last_index, last_term);
        let term = if granted { term } else { self.hs.term };
        self.send(from, Message::PreVoteResp { term, granted });
    }

    pub(super) fn on_pre_vote_resp(&mut self, from: NodeId, term: u64, granted: bool) {
        if self.role != RoleKind::PreCandidate || (granted && term != self.hs.term + 1) {
            return;
        }
        self.votes.insert(from, granted);
        if self.won(true) {
            self.campaign();
        } else if self.won(false) {
            self.become_follower(self.hs.term, None);
        }
    }

    pub(super) fn on_vote(&mut self, from: NodeId, last_index: u64, last_term: u64) {
        let can_vote = self.hs.vote.is_none() || self.hs.vote == Some(from);
        let granted = can_vote && self.log.is_up_to_date(last_index, last_term);
        if granted {
            self.role = RoleKind::Follower;
            self.hs.vote = Some(from);
            self.persist_hard_state();
            self.reset_election_timer();
        }
        let term = self.hs.term;
        self.send(from, Message::VoteResp { term, granted });
    }

    pub(super) fn on_vote_resp(&mut self, from: NodeId, granted: bool) {
        if self.role != RoleKind::Candidate {
            return;
        }
        self.votes.insert(from, granted);
        if self.won(true) {
            self.become_leader();
        } else if self.won(false) {
            self.become_follower(self.hs.term, None);
        }
    }

    pub(super) fn on_timeout_now(&mut self, from: NodeId) {
        if self.role != RoleKind::Leader && self.leader == Some(from) {
            self.campaign_with(true);
        }
    }

    /// Leader: counts followers heard from; steps down without a majority.
    pub(super) fn check_quorum(&mut self) {
        let me = self.cfg.id;
        let voters = self.voting_peers();
        let active = 1 + self
            .progress
            .iter_mut()
            .filter(|(id, _)| **id != me && voters.contains(id))
            .map(|(_, p)| std::mem::replace(&mut p.recent_active, false))
            .filter(|&a| a)
            .count();
        if self.cfg.check_quorum && active < self.quorum() {
            self.become_follower(self.hs.term, None);
        }
    }

    /// Hands leadership to `to`: stop taking proposals, catch it up, then tell it to campaign.
    pub(super) fn transfer_leader(&mut self, to: NodeId) {
        if self.role != RoleKind::Leader || to == self.cfg.id || !self.membership().is_voter(to) {
            return;
        }
        self.transfer = Some((to, 0));
        // The target campaigns with a forced vote that ignores the followers' lease: no lease
        // read may be served for the rest of this term.
        self.reads.revoke_lease();
        self.maybe_send_timeout_now();
    }

    /// Leader: sends `TimeoutNow` when the transfer target has the whole log.
    pub(super) fn maybe_send_timeout_now(&mut self) {
        let Some((to, _)) = self.transfer else { return };
        let caught_up = self
            .progress
            .get(&to)
            .is_some_and(|p| p.matched == self.log.last_index());
        if caught_up {
            let term = self.hs.term;
            self.send(to, Message::TimeoutNow { term });
        } else {
            self.send_append(to);
        }
    }
}
