//! A small blocking ZooKeeper client used by the tests, benchmarks and tools.
//! It is not a product: applications should use a real client library.
