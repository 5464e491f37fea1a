"""pytorch/examples' reinforcement_learning (reinforce.py and actor_critic.py) on a small corridor world
instead of Gym's CartPole: a policy network's softmax probabilities in a Categorical, actions sampled
and their log_prob saved, discounted returns normalised with float32's eps, the REINFORCE loss (and the
actor-critic's smooth-L1 value loss) summed with torch.stack and an Adam step per episode. Then a
Gaussian policy (Normal with a learned log-std) on a one-step continuous bandit, trained with
rsample-free score-function gradients and an entropy bonus. The episodes draw from the random stream,
so the learning curves are compared against marks; the deterministic pieces (returns, log_probs and
entropies of fixed weights) must equal PyTorch's.
"""
from collections import namedtuple

import numpy as np

import shendu as torch
import shendu.nn as nn
import shendu.nn.functional as F
import shendu.optim as optim
from shendu.distributions import Categorical, Normal

eps = np.finfo(np.float32).eps.item()
SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class Corridor:
    """Start in cell 0, reach cell n-1 (reward 1); a step right earns 0.1, a step left costs 0.1; at most
    `limit` steps."""

    def __init__(self, n=8, limit=30):
        self.n, self.limit = n, limit

    def reset(self):
        self.pos, self.t = 0, 0
        return self.observe()

    def observe(self):
        return np.eye(self.n, dtype=np.float32)[self.pos]

    def step(self, action):  # 0: left, 1: right
        old, self.pos = self.pos, min(max(self.pos + (1 if action == 1 else -1), 0), self.n - 1)
        self.t += 1
        done = self.pos == self.n - 1 or self.t >= self.limit
        reward = 1.0 if self.pos == self.n - 1 else 0.1 * (self.pos - old) - 0.01
        return self.observe(), reward, done


class Policy(nn.Module):
    def __init__(self, n_states=8, hidden=32, critic=False):
        super().__init__()
        self.affine1 = nn.Linear(n_states, hidden)
        self.action_head = nn.Linear(hidden, 2)
        self.value_head = nn.Linear(hidden, 1) if critic else None
        self.saved_actions, self.saved_log_probs, self.rewards = [], [], []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        if self.value_head is None:
            return action_prob
        return action_prob, self.value_head(x)


def discounted_returns(rewards, gamma):
    R, returns = 0.0, []
    for r in rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    return (returns - returns.mean()) / (returns.std() + eps)


def run_episodes(critic, episodes=120, gamma=0.9, lr=0.03):
    env = Corridor()
    policy = Policy(critic=critic)
    optimizer = optim.Adam(policy.parameters(), lr=lr)
    lengths = []
    for _episode in range(episodes):
        state, ep_len = env.reset(), 0
        while True:
            state_t = torch.from_numpy(state).float().unsqueeze(0)
            if critic:
                probs, value = policy(state_t)
            else:
                probs = policy(state_t)
            m = Categorical(probs)
            action = m.sample()
            if critic:
                policy.saved_actions.append(SavedAction(m.log_prob(action), value))
            else:
                policy.saved_log_probs.append(m.log_prob(action))
            state, reward, done = env.step(action.item())
            policy.rewards.append(reward)
            ep_len += 1
            if done:
                break
        returns = discounted_returns(policy.rewards, gamma)
        optimizer.zero_grad()
        if critic:
            policy_losses, value_losses = [], []
            for (log_prob, value), R in zip(policy.saved_actions, returns):
                advantage = R - value.item()
                policy_losses.append(-log_prob * advantage)
                value_losses.append(F.smooth_l1_loss(value.squeeze(), R))
            loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
            del policy.saved_actions[:]
        else:
            loss = torch.cat([-lp * R for lp, R in zip(policy.saved_log_probs, returns)]).sum()
            del policy.saved_log_probs[:]
        loss.backward()
        optimizer.step()
        del policy.rewards[:]
        lengths.append(ep_len)
    with torch.no_grad():
        probs = policy(torch.eye(8)[:-1])
        probs = probs[0] if critic else probs
    return {"first_lengths": float(np.mean(lengths[:20])), "last_lengths": float(np.mean(lengths[-20:])),
            "right_prob": probs[:, 1].min().item()}


def gaussian_bandit(steps=200, target=1.5):
    """A one-step continuous bandit: reward -(a - target)^2; a Normal policy with a learned mean and log-std."""
    mu = torch.zeros(1, requires_grad=True)
    log_std = torch.zeros(1, requires_grad=True)
    optimizer = optim.Adam([mu, log_std], lr=0.05)
    for _ in range(steps):
        dist = Normal(mu, log_std.exp())
        actions = dist.sample((32,))  # no gradient through the draw: the score-function estimator
        rewards = -(actions - target) ** 2
        advantage = (rewards - rewards.mean()) / (rewards.std() + eps)
        loss = -(dist.log_prob(actions) * advantage).mean() - 0.01 * dist.entropy().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {"mu": mu.item(), "std": log_std.exp().item()}


def fixed_pieces():
    policy = Policy(critic=True)
    with torch.no_grad():
        for i, p in enumerate(policy.parameters()):
            p.copy_(torch.linspace(-0.5, 0.5, p.numel()).view_as(p) * (-1) ** i)
    probs, value = policy(torch.eye(8)[:6])
    m = Categorical(probs)
    actions = torch.tensor([0, 1, 1, 0, 1, 0])
    return {"returns": discounted_returns([-0.01, -0.01, -0.01, 1.0], 0.9).tolist(),
            "log_prob": m.log_prob(actions).tolist(), "entropy": m.entropy().tolist(),
            "value": value.view(-1).tolist(), "eps": eps}


def main():
    torch.manual_seed(543)  # the examples' default seed
    return {"fixed": fixed_pieces(), "reinforce": run_episodes(critic=False),
            "actor_critic": run_episodes(critic=True), "gaussian": gaussian_bandit()}


if __name__ == "__main__":
    print(main())
