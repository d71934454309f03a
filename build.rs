//! Compiles the SPIRE Server API definitions in proto/ with a pure-Rust protobuf compiler, so a
//! build needs no system `protoc`.

const PROTOS: &[&str] = &[
    "spire/api/server/entry/v1/entry.proto",
    "spire/api/server/bundle/v1/bundle.proto",
    "spire/api/server/trustdomain/v1/trustdomain.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(PROTOS, ["proto"])?;
    tonic_prost_build::configure().build_server(false).build_client(true).compile_fds(descriptors)?;
    Ok(())
}
