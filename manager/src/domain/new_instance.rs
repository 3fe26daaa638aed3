//! A create request that passed validation (serde and garde, in `shared::http`), in the form the fleet
//! provisions from.

use shared::{
    Provider,
    agent::AgentConfig,
    api::instances::{CreateInstanceRequest, Interface},
};

/// A create request that passed validation.
#[derive(Debug, Clone)]
pub struct NewInstance {
    pub user_id: String,
    pub provider: Provider,
    pub type_instance: Vec<Interface>,
    pub token: String,
    pub agno_config: Option<AgentConfig>,
    pub placement: Vec<String>,
}

impl From<CreateInstanceRequest> for NewInstance {
    fn from(r: CreateInstanceRequest) -> Self {
        let mut type_instance: Vec<Interface> = Vec::new();
        for i in r.type_instance {
            if !type_instance.contains(&i) {
                type_instance.push(i);
            }
        }
        Self {
            user_id: r.user_id.trim().to_string(),
            provider: r.provider,
            type_instance,
            token: r.token,
            agno_config: r.agno_config,
            placement: r
                .placement
                .iter()
                .map(|c| c.split_whitespace().collect())
                .collect(),
        }
    }
}

impl NewInstance {
    /// `telegram_api`, as the replaced system named instances.
    pub fn display_name(&self) -> String {
        let interfaces: Vec<&str> = self.type_instance.iter().map(|i| i.as_str()).collect();
        format!("{}_{}", self.provider, interfaces.join("_"))
    }
}
