//! The llama engine on wgpu (written next).
