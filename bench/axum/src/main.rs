//! Hello world as the axum README writes it: `#[tokio::main]`, a route at
//! "/", `axum::serve`. The address comes from argv[1].

use axum::{Router, routing::get};

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    let app = Router::new().route("/", get(|| async { "Hello, world!\n" }));
    axum::serve(listener, app).await.expect("serve");
}
