"""Secure aggregation: the four stages, and the threat model this code is built for.

Bonawitz et al. (2017), "Practical Secure Aggregation for Privacy-Preserving Machine Learning"
(CCS), Fig. 4 (the honest-but-curious protocol: no consistency-check round), on the sparse
neighbour graph of SecAgg+ (Bell et al. 2020, CCS). The parties are `privacy.client` and
`privacy.server`; the primitives (`key_agreement`, `authenticated_encryption`, `shamir`, `prg`,
`quantization`) import neither.

1. advertise_keys: client u sends two X25519 public keys (c_u for encryption, s_u for masks).
2. share_keys: u draws the self-mask seed b_u, Shamir-shares b_u and s_u^SK t-of-|holders(u)|
   among holders(u) = {u} + N(u), and sends each neighbour's share pair encrypted under
   c_uv = KA(c_u, c_v). The server relays ciphertexts it cannot read.
3. masked_input: u sends y_u = x_u + PRG(b_u) + sum_{v in N(u), shares received} sign(u, v)
   PRG(s_uv) mod 2^bits, so every pairwise mask cancels in the sum.
4. unmasking: each surviving client reveals, per client whose shares it holds, the b-share (its
   masked input arrived) or the sk-share (it dropped), never both.

Threat model (each claim is played in `tests/privacy`):
    * Honest-but-curious server, any t >= 2: it learns the sum of the included clients U3 and
      nothing finer. t = 1 is refused. The server aborts when U3 is not connected in the
      graph (it would learn each component's sum) and when a stage or a needed secret has
      fewer than t survivors; a client never answers twice.
    * Colluding clients: fewer than t holders of a client (t - 1 of its k neighbours with
      SecAgg+, of all n with SecAgg) learn nothing of its secrets with the server.
      `privacy.parameters` bounds the chance that a random graph gives some client t corrupt
      neighbours.
    * Active (malicious) server: this code has no consistency-check round and no signatures,
      so a server may tell different clients different survivor sets. The clients' checks of
      Fig. 4 (enough keys, ciphertexts and surviving holders; one request; never both shares
      of one client) make it pay for that in shares. Splitting the survivors (telling the
      victim's holders that it survived and the holders of each neighbour that the neighbour
      dropped) unmasks one client of n (complete graph, no colluders) exactly when
      n (t - 2) + 1 <= (n - 1)(n - 1 - t), i.e. for t up to about n/2; with SecAgg+ read n as
      the k + 1 holders of a neighbourhood. Above that the attack fails, but the server can
      still choose which set of clients is summed. Bonawitz et al. (Sec. 6) prove security
      against an active server only with a consistency-check round (each client signs the
      survivor set it was told) and 2t > n + n_C (t > 2n/3 for n_C < n/3 corrupt clients);
      neither is implemented here. A server that withholds ciphertexts, so that only the self
      mask would protect a client, is refused (the client needs t - 1 >= 1 of them).
    * Not protected: malicious clients (clipping is client-side and trusted: a client can send
      any ring element), what the released sum itself reveals (`privacy.audit`), side channels.
    * Randomness: every key, seed, Shamir coefficient and nonce comes from the OS CSPRNG; only
      the graph (public) and the dropouts are simulation choices that follow a numpy Generator.
"""

from __future__ import annotations

from privacy.client import SecAggClient
from privacy.config import SecAggConfig
from privacy.server import SecAggServer

__all__ = ["SecAggClient", "SecAggConfig", "SecAggServer"]
