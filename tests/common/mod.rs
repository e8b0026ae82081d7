pub mod fuzz_check;
pub mod strategies;
