//! (being typed)
