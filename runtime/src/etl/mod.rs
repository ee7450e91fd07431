//! The ETL format.
