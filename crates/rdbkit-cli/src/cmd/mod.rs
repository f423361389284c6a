pub mod aof;
pub mod check;
pub mod dump;
pub mod verify;
