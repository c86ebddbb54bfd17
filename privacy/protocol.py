"""Secure aggregation: the stages, and the two threat models this code is built for.

Bonawitz et al. (2017), "Practical Secure Aggregation for Privacy-Preserving Machine Learning"
(CCS), Fig. 4, on the sparse neighbour graph of SecAgg+ (Bell et al. 2020, CCS). The parties
are `privacy.client` and `privacy.server`; the primitives (`key_agreement`,
`authenticated_encryption`, `shamir`, `prg`, `quantization`, `signatures`) import neither.

1. advertise_keys: client u sends two X25519 public keys (c_u for encryption, s_u for masks).
2. share_keys: u draws the self-mask seed b_u, Shamir-shares b_u and s_u^SK t-of-|holders(u)|
   among holders(u) = {u} + N(u), and sends each neighbour's share pair encrypted under
   c_uv = KA(c_u, c_v), bound to (sender, receiver, session). The server relays ciphertexts
   it cannot read.
3. masked_input: u sends y_u = x_u + PRG(b_u) + sum_{v in N(u), shares received} sign(u, v)
   PRG(s_uv) mod 2^bits, so every pairwise mask cancels in the sum.
4. (malicious model only) consistency_check: the server announces U3 (whose masked input
   arrived); each client checks it and signs (session, U3); the server forwards the signatures.
5. unmasking: each surviving client reveals, per client whose shares it holds, the b-share (its
   masked input arrived) or the sk-share (it dropped), never both.

`threat_model="semi_honest"` (default; stages 1-3 and 5):
    * Honest-but-curious server, any t >= 2: it learns the sum of the included clients U3 and
      nothing finer. t = 1 is refused. The server aborts when U3 is not connected in the
      graph (it would learn each component's sum) and when a stage or a needed secret has
      fewer than t survivors; a client never answers twice.
    * An active server is NOT stopped. Public keys are not authenticated: substituting its own
      keys for the victim's neighbours (and for the victim towards them) unmasks one client at
      any t, every client check passing. Splitting the survivors (telling the victim's holders
      that it survived and the holders of each neighbour that the neighbour dropped) unmasks
      one client of n (complete graph) when n (t - 2) + 1 <= (n - 1)(n - 1 - t), i.e. for t up
      to about n/2. Withholding ciphertexts so that the victim masks with t - 1 peers, then
      declaring them dropped, unmasks it at small t. The client checks of Fig. 4 (enough keys,
      ciphertexts and surviving holders; one request; never both shares of one client) only
      make these attacks cost shares.

`threat_model="malicious"` (Bonawitz et al. Sec. 4.2, all five stages):
    * Assumptions: a PKI set up before the round (`privacy.signatures.trusted_setup`; the server
      does not register identities, Sybils it registers are out of scope); clients are honest
      but may drop; the server may deviate arbitrarily (drop, reorder, forge, replay, withhold
      messages, tell clients different things).
    * Key substitution: each client signs (session, id, c_u, s_u); a client verifies every
      roster entry and aborts (`BadSignature`) before sending any share.
    * Split survivors: an honest client signs one U3, after checking that it is in U3, that U3
      is connected in the public graph and names no neighbour whose shares it never received.
      It reveals a share of client u only if q(u) = max(t, |holders(u)| // 2 + 1) holders of u
      (a strict majority) validly signed the U3 in the request, the U3 it signed itself; for a
      mask-key share, also q(w) holders of each neighbour w of u. Two different U3s can never
      both gather a majority of the same holders, so the b-share and the sk-share of a client,
      or b_w and the key of a neighbour u of w declared dropped, never both come out; with one
      U3, removing all of a client's masks needs its mask peers declared dropped, and then
      fewer than a majority of its holders can sign (`TooFewSignatures`,
      `InconsistentSurvivors`).
    * Withheld ciphertexts: a client needs q(u) - 1 neighbours' keys and ciphertexts
      (`WithheldCiphertext`); a U3 without the peers it masked with is refused by it, and the
      other holders lack a majority of signatures. Redirected, replayed and tampered
      ciphertexts fail authentication (`ForgedCiphertext`); an unmasking request must ask for
      exactly the shares the signed U3 implies (`BadUnmaskRequest`).
    * What remains: the server chooses which set is summed (any U3 of >= t clients that a
      majority of each member's holders signs) and can drop clients or abort the round. For
      SecAgg+ the argument above covers conflicting survivor sets and the attacks played in
      `tests/privacy/test_secagg_malicious.py`; it is not a proof in the sense of Bell et al.
    * Cost: one signature and one verification per roster entry, a verification per
      forwarded signature needed for the quorum, and 64 bytes per signature
      (`bench/secagg_malicious.py`). An honest round also needs q(u) holders of each client
      through the consistency check (more than t when t is at most half the holders).

Both models:
    * Colluding clients: fewer than t holders of a client (t - 1 of its k neighbours with
      SecAgg+, of all n with SecAgg) learn nothing of its secrets with the server.
      `privacy.parameters` bounds the chance that a random graph gives some client t corrupt
      neighbours. (The malicious model assumes no corrupt clients.)
    * Not protected: malicious clients (clipping is client-side and trusted: a client can send
      any ring element; there are no input-validity proofs), what the released sum itself
      reveals (`privacy.audit`), side channels.
    * Randomness: every key, seed, Shamir coefficient, nonce, signing key and session id comes
      from the OS CSPRNG; only the graph (public) and the dropouts are simulation choices that
      follow a numpy Generator, identically in both models.
"""

from __future__ import annotations

from privacy.client import SecAggClient
from privacy.config import SecAggConfig
from privacy.server import SecAggServer

__all__ = ["SecAggClient", "SecAggConfig", "SecAggServer"]
