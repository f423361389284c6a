pub mod aof;
pub mod check;
pub mod diff;
pub mod dump;
pub mod info;
pub mod keys;
pub mod size;
pub mod verify;
