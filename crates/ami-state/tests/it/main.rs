//! The live state against the recordings of real Asterisk 22, 13, 11 and 1.8 servers, and
//! against event sequences of each era: channels, bridges, transfers, Local optimisation,
//! queues, agents, parking, device and extension states.

mod agents;
mod corpus;
mod objects;
mod sequences;
mod sim;
