//! One simulated file's contents: a durable image plus the writes not yet synced.

use rig_core::seams::Rand;

/// Disk sectors: a torn write keeps a prefix ending on a multiple of this.
pub(crate) const SECTOR: u64 = 512;

/// A change not yet durable.
#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

/// What happened to one unsynced write at a crash or a failed fsync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    Kept,
    Dropped,
    Torn,
}

/// A file's data: what survives a crash (`durable`), and what readers see now (`current`,
/// which is `durable` plus `pending` applied in order).
#[derive(Debug, Clone, Default)]
pub(crate) struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<Pending>,
}

fn apply(buf: &mut Vec<u8>, change: &Pending) {
    match change {
        Pending::Write { offset, data } => {
            let start = *offset as usize;
            let end = start + data.len();
            if buf.len() < end {
                buf.resize(end, 0);
            }
            buf[start..end].copy_from_slice(data);
        }
        Pending::SetLen(len) => buf.resize(*len as usize, 0),
    }
}

impl Inode {
    pub(crate) fn current(&self) -> &[u8] {
        &self.current
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    pub(crate) fn write(&mut self, offset: u64, data: &[u8]) {
        let change = Pending::Write {
            offset,
            data: data.to_vec(),
        };
        apply(&mut self.current, &change);
        self.pending.push(change);
    }

    pub(crate) fn set_len(&mut self, len: u64) {
        let change = Pending::SetLen(len);
        apply(&mut self.current, &change);
        self.pending.push(change);
    }

    /// A successful sync: everything current becomes durable.
    pub(crate) fn sync(&mut self) {
        self.durable.clone_from(&self.current);
        self.pending.clear();
    }

    /// A crash: each unsynced write is kept, dropped or torn at a sector boundary; length
    /// changes are kept or dropped. Readers then see the durable image.
    pub(crate) fn crash(&mut self, rand: &dyn Rand, fates: &mut Vec<Fate>) {
        for change in std::mem::take(&mut self.pending) {
            let fate = draw(rand, &change);
            fates.push(fate);
            match (fate, &change) {
                (Fate::Kept, _) => apply(&mut self.durable, &change),
                (Fate::Torn, Pending::Write { offset, data }) => {
                    let end = offset + data.len() as u64;
                    let first_cut = (offset / SECTOR + 1) * SECTOR;
                    let cuts = (end - 1 - first_cut) / SECTOR + 1;
                    let cut = first_cut + rand.below(cuts) * SECTOR;
                    let kept = (cut - offset) as usize;
                    let torn = Pending::Write {
                        offset: *offset,
                        data: data[..kept].to_vec(),
                    };
                    apply(&mut self.durable, &torn);
                }
                _ => {}
            }
        }
        self.current.clone_from(&self.durable);
    }

    /// A failed fsync: each unsynced change either reached the disk (reads back new) or was
    /// lost (reads back old); either way nothing is pending, so the next fsync "succeeds".
    pub(crate) fn fail_sync(&mut self, rand: &dyn Rand) {
        for change in std::mem::take(&mut self.pending) {
            if rand.below(2) == 0 {
                apply(&mut self.durable, &change);
            }
        }
        self.current.clone_from(&self.durable);
    }

    /// Flips one bit of the data at rest (durable and current alike). `None` when empty.
    pub(crate) fn flip_bit(&mut self, rand: &dyn Rand) -> Option<u64> {
        if self.durable.is_empty() {
            return None;
        }
        let bit = rand.below(self.durable.len() as u64 * 8);
        let (byte, mask) = ((bit / 8) as usize, 1u8 << (bit % 8));
        self.durable[byte] ^= mask;
        if let Some(b) = self.current.get_mut(byte) {
            *b ^= mask;
        }
        Some(bit)
    }
}

/// Keep a third, drop a third, tear a third (only writes spanning a sector boundary can tear).
fn draw(rand: &dyn Rand, change: &Pending) -> Fate {
    let tearable = match change {
        Pending::Write { offset, data } => {
            (offset / SECTOR + 1) * SECTOR < offset + data.len() as u64
        }
        Pending::SetLen(_) => false,
    };
    match rand.below(3) {
        0 => Fate::Kept,
        1 => Fate::Dropped,
        _ if tearable => Fate::Torn,
        _ => Fate::Kept,
    }
}
