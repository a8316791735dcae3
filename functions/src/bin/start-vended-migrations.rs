//! Lambda function of the account-vending follow-up (EventBridge: Control Tower
//! `CreateManagedAccount`, Organizations `CreateAccountResult`).
use carveout::vending::{VendingClients, VendingConfig, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    carveout::runtime::init_tracing();
    let config = VendingConfig::from_env()?;
    let clients = VendingClients::new(&carveout::accounts::load_base_config().await);
    carveout::runtime::serve(|event| async {
        let out = handle(&clients, &config, event).await?;
        Ok(serde_json::to_value(out).expect("output serializes"))
    })
    .await
}
