//! Hello world as a bare axum server: one process, tokio's default
//! multi-threaded runtime, `axum::serve`. The address comes from argv[1].

async fn application(_request: axum::extract::Request) -> &'static str {
    "Hello, world!\n"
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    let app = axum::Router::new().fallback(application);
    axum::serve(listener, app).await.expect("serve");
}
