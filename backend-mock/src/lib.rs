//! Mock backend (placeholder until implemented).
