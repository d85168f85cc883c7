//! What the fuzz targets and the seed-corpus writer share: the byte format of the jitter
//! buffer's operations, so that the seed corpus can be written as a real call's packet stream.

pub mod jitter_ops;
