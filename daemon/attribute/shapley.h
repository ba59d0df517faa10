/*
 * shapley.h — exact Shapley values of attribution.md's channel game.
 *
 * The game is v(S) = conversions of journeys whose set of channels is a
 * subset of S. Write w(T) for the conversions of journeys whose channel set
 * is exactly T: then v = Σ_T w(T)·u_T, where u_T is the unanimity game of T
 * (worth 1 exactly when S ⊇ T). Shapley values are linear and u_T's value is
 * 1/|T| for each member of T, so
 *
 *   φ_c = Σ_{T ∋ c} w(T) / |T|
 *
 * exactly, in one pass over the channel sets, with no 2^n enumeration. It
 * is linear attribution over each journey's *distinct* channels: a journey
 * a > b > a credits a and b ½ each, where linear gives a ⅔. The value game
 * (conversion value instead of counts) is the same with values.
 * Pure: no I/O.
 */
#ifndef JD_SHAPLEY_H
#define JD_SHAPLEY_H

#include <stddef.h>
#include <stdint.h>

/**
 * @brief Add the journeys with channel set \p ch[0..n) (repeats allowed and
 *        ignored; n 0 adds nothing) — \p conv conversions worth \p value — to
 *        the per-channel Shapley values \p phi and \p phi_value (indexed by
 *        channel, large enough for every index in \p ch).
 */
void shapley_add_set(double *phi, double *phi_value, const uint32_t *ch, size_t n, double conv,
                     double value);

#endif
