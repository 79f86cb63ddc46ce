//! What is known about a value before it is computed: dtype and (partial) shape.

use std::fmt;

use crate::tensor::{DType, Tensor};

/// One dimension of an inferred shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// Known size.
    Fixed(usize),
    /// Named dynamic size (`batch`, `sequence`); equal names are equal sizes.
    Symbol(String),
    /// Unknown size (depends on data or on an unnamed dynamic dim).
    Unknown,
}

impl Dim {
    /// The size, if known.
    pub fn fixed(&self) -> Option<usize> {
        match self {
            Dim::Fixed(n) => Some(*n),
            _ => None,
        }
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbol(s) => f.write_str(s),
            Dim::Unknown => f.write_str("?"),
        }
    }
}

/// Inferred type and shape of a value.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// Element type (always known).
    pub dtype: DType,
    /// Dimensions, or `None` when even the rank is unknown.
    pub shape: Option<Vec<Dim>>,
}

impl Fact {
    /// A fact of known dtype and unknown shape.
    pub fn unknown(dtype: DType) -> Self {
        Fact { dtype, shape: None }
    }

    /// A fact with a fully known shape.
    pub fn fixed(dtype: DType, shape: &[usize]) -> Self {
        Fact { dtype, shape: Some(shape.iter().map(|&d| Dim::Fixed(d)).collect()) }
    }

    /// The fact describing a concrete tensor.
    pub fn of_tensor(tensor: &Tensor) -> Self {
        Fact::fixed(tensor.dtype(), tensor.shape())
    }

    /// The rank, if known.
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(Vec::len)
    }

    /// The shape, if every dimension is known.
    pub fn concrete_shape(&self) -> Option<Vec<usize>> {
        self.shape.as_ref()?.iter().map(Dim::fixed).collect()
    }

    /// Checks that a concrete shape fits this fact (rank and fixed dims agree).
    ///
    /// # Errors
    /// A one-line description of the disagreement.
    pub fn check_shape(&self, shape: &[usize]) -> Result<(), String> {
        let Some(dims) = &self.shape else {
            return Ok(());
        };
        if dims.len() != shape.len() {
            return Err(format!("expected rank {} ({self}), got shape {shape:?}", dims.len()));
        }
        for (i, (dim, &actual)) in dims.iter().zip(shape).enumerate() {
            if let Dim::Fixed(expected) = dim
                && *expected != actual
            {
                return Err(format!("dimension {i} must be {expected} ({self}), got shape {shape:?}"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shape {
            None => write!(f, "{}[..]", self.dtype),
            Some(dims) => {
                let dims: Vec<String> = dims.iter().map(ToString::to_string).collect();
                write!(f, "{}[{}]", self.dtype, dims.join(", "))
            }
        }
    }
}
