//! A small seeded random number generator, so that a seed always produces the same events.

/// A permuted congruential generator (PCG-XSH-RR, 64-bit state, 32-bit output).
#[derive(Debug, Clone)]
pub struct Random {
    state: u64,
}

impl Random {
    const MULTIPLIER: u64 = 6_364_136_223_846_793_005;
    const INCREMENT: u64 = 1_442_695_040_888_963_407;

    pub fn new(seed: u64) -> Self {
        let mut random = Self { state: 0 };
        random.next_u32();
        random.state = random.state.wrapping_add(seed);
        random.next_u32();
        random
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old
            .wrapping_mul(Self::MULTIPLIER)
            .wrapping_add(Self::INCREMENT);
        let shifted = (((old >> 18) ^ old) >> 27) as u32;
        let rotation = (old >> 59) as u32;
        shifted.rotate_right(rotation)
    }

    /// Returns a number in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        let high = u64::from(self.next_u32()) << 21;
        let low = u64::from(self.next_u32()) >> 11;
        ((high | low) as f64) / ((1u64 << 53) as f64)
    }

    /// Returns an integer in `[0, bound)`; `bound` must be positive.
    pub fn below(&mut self, bound: u64) -> u64 {
        ((self.unit() * bound as f64) as u64).min(bound.saturating_sub(1))
    }

    /// Returns true with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Returns a normally distributed number (Box-Muller transform).
    pub fn normal(&mut self, mean: f64, deviation: f64) -> f64 {
        let u1 = self.unit().max(f64::MIN_POSITIVE);
        let u2 = self.unit();
        mean + deviation * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Returns one of `choices`, picked with probability proportional to its weight.
    pub fn weighted<'a, T>(&mut self, choices: &'a [(T, u32)]) -> &'a T {
        let total: u32 = choices.iter().map(|(_, weight)| weight).sum();
        let mut point = self.below(u64::from(total)) as u32;
        for (choice, weight) in choices {
            if point < *weight {
                return choice;
            }
            point -= weight;
        }
        &choices[choices.len() - 1].0
    }

    /// Returns an index in `[0, count)` where low indexes are much more likely, roughly as with
    /// Zipf's law: a few users or pages account for most events.
    pub fn skewed(&mut self, count: u64) -> u64 {
        let exponent = 3.0;
        ((self.unit().powf(exponent)) * count as f64) as u64 % count.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut first = Random::new(7);
        let mut second = Random::new(7);
        let mut other = Random::new(8);
        let a: Vec<u32> = (0..16).map(|_| first.next_u32()).collect();
        let b: Vec<u32> = (0..16).map(|_| second.next_u32()).collect();
        let c: Vec<u32> = (0..16).map(|_| other.next_u32()).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn values_stay_in_range() {
        let mut random = Random::new(1);
        for _ in 0..10_000 {
            let unit = random.unit();
            assert!((0.0..1.0).contains(&unit));
            assert!(random.below(10) < 10);
            assert!(random.skewed(100) < 100);
        }
    }

    #[test]
    fn normal_has_the_requested_mean() {
        let mut random = Random::new(3);
        let samples = 20_000;
        let mean = (0..samples).map(|_| random.normal(20.0, 2.0)).sum::<f64>() / samples as f64;
        assert!((mean - 20.0).abs() < 0.1, "mean {mean}");
    }
}
